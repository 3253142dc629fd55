// What the top of a run page says: the key metrics its nodes recorded (the
// train node's final losses, the evaluate node's results, the compare node's
// primary metric), a base-vs-tuned headline, failed and cached nodes, and the
// dataset versions the job read. Everything comes from GET /jobs/{id}: the
// nodes' output metadata and the job's `datasets`, so nothing extra is fetched.

import type { Artifact, DatasetVersion, Job, NodeRun } from '../api';
import { fmtNum } from '../ui/format';

export interface KeyMetric {
  /** stable id for tests and keys: "final_loss", "eval_perplexity", "primary" */
  key: string;
  label: string;
  value: number;
  /** the node that recorded it */
  node: string;
  /** the base model's value (the compare node's primary metric) */
  base?: number;
}

export interface Headline {
  /** one line: "tuned beats base: perplexity 12.3 → 8.1 (−34 %)" */
  text: string;
  /** better, worse, same (tuned vs base), or none when no base was measured */
  verdict: 'better' | 'worse' | 'same' | 'none';
  metric: string;
  tuned: number;
  base?: number;
  /** whether the compare node's confidence interval of the change excludes 0 */
  significant?: boolean;
  wins?: number;
  ties?: number;
  losses?: number;
  node: string;
}

export interface FailedNode {
  node: string;
  agent: string;
  error: string;
  attempts?: number;
}

export interface RunOverview {
  metrics: KeyMetric[];
  headline?: Headline;
  failed: FailedNode[];
  cached: string[];
  /** [succeeded, total] */
  nodes: [number, number];
  datasets: DatasetVersion[];
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const LOWER_IS_BETTER = new Set(['loss', 'perplexity']);

/** outputs lists a job's node outputs of a type (and report kind) with their node. */
function outputs(j: Job, type: string, kind?: string): { n: NodeRun; a: Artifact }[] {
  return (j.nodes ?? []).flatMap((n) => (n.outputs ?? []).filter((a) => a.type === type && (!kind || a.meta?.kind === kind)).map((a) => ({ n, a })));
}

/** relChange is (tuned − base) / |base| in percent, undefined when base is 0. */
export function relChange(base: number, tuned: number): number | undefined {
  return base === 0 ? undefined : ((tuned - base) / Math.abs(base)) * 100;
}

/** fmtPct writes a signed percentage with a real minus sign: "−34 %", "+2.5 %". */
export function fmtPct(p: number): string {
  const a = Math.abs(p);
  const s = a >= 10 ? Math.round(a).toString() : a >= 1 ? a.toFixed(1).replace(/\.0$/, '') : a.toFixed(2).replace(/0$/, '');
  if (s === '0' || s === '0.0' || s === '0.00') return '0 %';
  return `${p < 0 ? '−' : '+'}${s} %`;
}

/** headlineText is the base-vs-tuned sentence of a metric. */
export function headlineText(metric: string, base: number, tuned: number, lowerIsBetter: boolean): { text: string; verdict: Headline['verdict'] } {
  const verdict: Headline['verdict'] = tuned === base ? 'same' : tuned < base === lowerIsBetter ? 'better' : 'worse';
  const lead = verdict === 'better' ? 'tuned beats base' : verdict === 'worse' ? 'tuned is worse than base' : 'tuned ties base';
  const p = relChange(base, tuned);
  return { text: `${lead}: ${metric} ${fmtNum(base)} → ${fmtNum(tuned)}${p === undefined ? '' : ` (${fmtPct(p)})`}`, verdict };
}

/** runOverview reads the summary of a run from its nodes. */
export function runOverview(j: Job): RunOverview {
  const nodes = j.nodes ?? [];
  const metrics: KeyMetric[] = [];
  const trains = outputs(j, 'model').filter(({ n }) => n.agent === 'train');
  const many = (xs: unknown[]) => xs.length > 1;
  for (const { n, a } of trains) {
    const suffix = many(trains) ? ` (${n.id})` : '';
    const loss = num(a.meta?.final_loss);
    if (loss !== undefined) metrics.push({ key: 'final_loss', label: `Final train loss${suffix}`, value: loss, node: n.id });
    const val = num(a.meta?.final_val_loss);
    if (val !== undefined) metrics.push({ key: 'final_val_loss', label: `Final val loss${suffix}`, value: val, node: n.id });
  }
  const evals = outputs(j, 'report', 'evaluation');
  for (const { n, a } of evals) {
    const ms = (a.meta?.metrics ?? {}) as Record<string, unknown>;
    const suffix = many(evals) ? ` (${n.id})` : '';
    // loss and perplexity first, then the generation metrics in the report's order
    const names = Object.keys(ms).sort((x, y) => Number(!LOWER_IS_BETTER.has(x)) - Number(!LOWER_IS_BETTER.has(y)));
    for (const name of names) {
      const v = num(ms[name]);
      if (v !== undefined) metrics.push({ key: `eval_${name}`, label: `Eval ${name}${suffix}`, value: v, node: n.id });
    }
  }
  let headline: Headline | undefined;
  for (const { n, a } of outputs(j, 'report', 'comparison')) {
    const m = a.meta ?? {};
    const name = typeof m.primary_metric === 'string' ? m.primary_metric : '';
    const ms = (m.metrics ?? {}) as Record<string, unknown>;
    const tuned = num(ms[`tuned_${name}`]);
    const base = num(ms[`base_${name}`]);
    if (!name || tuned === undefined) continue;
    metrics.push({ key: 'primary', label: `Primary metric: ${name}`, value: tuned, base, node: n.id });
    if (headline || base === undefined) continue;
    const lower = LOWER_IS_BETTER.has(name);
    const h = headlineText(name, base, tuned, lower);
    // the compare node decides better/worse (it knows the metric's direction)
    const verdict = typeof m.improved === 'boolean' && h.verdict !== 'same' ? (m.improved ? 'better' : 'worse') : h.verdict;
    headline = {
      text: verdict === h.verdict ? h.text : headlineText(name, base, tuned, !lower).text,
      verdict,
      metric: name,
      tuned,
      base,
      significant: typeof m.significant === 'boolean' ? m.significant : undefined,
      wins: num(m.wins),
      ties: num(m.ties),
      losses: num(m.losses),
      node: n.id,
    };
  }
  if (!headline && evals.length) {
    // an evaluation without a compare node measured the tuned model only
    const { n, a } = evals[0];
    const ms = (a.meta?.metrics ?? {}) as Record<string, unknown>;
    const name = PRIMARY_ORDER.find((k) => num(ms[k]) !== undefined);
    if (name)
      headline = {
        text: `tuned model: ${name} ${fmtNum(ms[name])} (the base model was not measured: add a compare node after ${n.id})`,
        verdict: 'none',
        metric: name,
        tuned: ms[name] as number,
        node: n.id,
      };
  }
  return {
    metrics,
    headline,
    failed: nodes.filter((n) => n.status === 'failed').map((n) => ({ node: n.id, agent: n.agent, error: n.error || 'failed without an error message', attempts: n.attempts })),
    cached: nodes.filter((n) => n.cached).map((n) => n.id),
    nodes: [nodes.filter((n) => n.status === 'succeeded').length, nodes.length],
    datasets: j.datasets ?? [],
  };
}

/** the evaluate/compare agents' order for the primary metric (internal/eval primaryOrder) */
const PRIMARY_ORDER = ['judge', 'rouge_l', 'token_f1', 'bleu', 'exact_match', 'accuracy', 'macro_f1', 'loss', 'perplexity'];

/** shortVersion shortens "sha256:<64 hex>" to "sha256:<12 hex>". */
export function shortVersion(v: string): string {
  const m = /^([a-z0-9]+):([0-9a-f]{12})[0-9a-f]*$/i.exec(v);
  return m ? `${m[1]}:${m[2]}` : v.length > 24 ? `${v.slice(0, 24)}…` : v;
}

/** datasetLabel names a dataset version: its name, else the file name of its source, else its id. */
export function datasetLabel(d: DatasetVersion): string {
  const file = d.source ? d.source.replace(/[\\/]+$/, '').split(/[\\/]/).pop() : '';
  return d.name || file || d.dataset_id || 'dataset';
}
