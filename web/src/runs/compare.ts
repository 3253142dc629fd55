// Comparing runs: their configs (every node's params, flattened), their
// final metrics (what each node recorded in its outputs' metadata) and their
// curves (the metric events of their history).

import { api, type Job, type PipelineSpec } from '../api';
import { applyEvents, emptyStream, type StreamState } from './stream';
import { between } from '../ui/format';

/** fmtParam writes a param value on one line: lists joined, objects as JSON. */
export function fmtParam(v: unknown): string {
  if (v === undefined) return '—';
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null)) return v.map(String).join(', ');
  return JSON.stringify(v);
}

/**
 * flattenConfig lists a pipeline's config as "node.param.sub" → value: each
 * node's agent, its params (objects flattened), and its inputs.
 */
export function flattenConfig(spec: PipelineSpec | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!spec) return out;
  out.set('name', spec.name);
  const walk = (prefix: string, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const entries = Object.entries(v as Record<string, unknown>);
      if (!entries.length) out.set(prefix, '{}');
      for (const [k, x] of entries) walk(`${prefix}.${k}`, x);
    } else out.set(prefix, fmtParam(v));
  };
  for (const n of spec.nodes) {
    out.set(`${n.id}.agent`, n.agent);
    const from = spec.edges.filter((e) => e.to === n.id).map((e) => e.from);
    if (from.length) out.set(`${n.id}.inputs`, from.join(', '));
    for (const [k, v] of Object.entries(n.params ?? {})) walk(`${n.id}.${k}`, v);
  }
  return out;
}

export interface DiffRow {
  key: string;
  values: (string | undefined)[];
  differs: boolean;
}

/** diffConfigs lines up the configs of several runs key by key, in first-seen order. */
export function diffConfigs(specs: (PipelineSpec | undefined)[]): DiffRow[] {
  const flat = specs.map(flattenConfig);
  const keys: string[] = [];
  const seen = new Set<string>();
  for (const f of flat)
    for (const k of f.keys())
      if (!seen.has(k)) {
        seen.add(k);
        keys.push(k);
      }
  return keys.map((key) => {
    const values = flat.map((f) => f.get(key));
    return { key, values, differs: values.some((v) => v !== values[0]) };
  });
}

const lowerBetter = (name: string) => /(loss|perplexity|seconds|duration_s)$/.test(name);

/**
 * finalMetrics lists a run's final numbers, "node.metric" → value: the
 * training's final losses and steps, an evaluation's metrics, a comparison's
 * base/tuned/delta values, and the run's duration in seconds.
 */
export function finalMetrics(j: Job): Map<string, number> {
  const out = new Map<string, number>();
  const d = between(j.started_at, j.finished_at);
  if (j.finished_at && d !== undefined) out.set('duration_s', d / 1000);
  for (const n of j.nodes ?? [])
    for (const a of n.outputs ?? []) {
      const m = a.meta ?? {};
      if (a.type === 'model' && n.agent === 'train') {
        for (const k of ['final_loss', 'final_val_loss', 'initial_val_loss', 'steps', 'trainable_params', 'train_seconds'])
          if (typeof m[k] === 'number') out.set(`${n.id}.${k}`, m[k] as number);
      }
      if (a.type === 'report' && m.metrics && typeof m.metrics === 'object' && !Array.isArray(m.metrics))
        for (const [k, v] of Object.entries(m.metrics as Record<string, unknown>)) if (typeof v === 'number') out.set(`${n.id}.${k}`, v);
    }
  return out;
}

export interface MetricRow {
  key: string;
  values: (number | undefined)[];
  /** index of the best value, when there are two or more and the direction is known */
  best?: number;
}

/** compareMetrics lines up the final metrics of several runs and marks the best where lower or higher is known to be better. */
export function compareMetrics(jobs: Job[]): MetricRow[] {
  const all = jobs.map(finalMetrics);
  const keys = [...new Set(all.flatMap((m) => [...m.keys()]))];
  return keys.map((key) => {
    const values = all.map((m) => m.get(key));
    const present = values.map((v, i) => [v, i] as const).filter((x): x is readonly [number, number] => x[0] !== undefined);
    let best: number | undefined;
    const name = key.split('.').pop() ?? key;
    const known = lowerBetter(name) || /(rouge|bleu|f1|accuracy|exact_match|judge)/.test(name);
    if (present.length >= 2 && known && !/^(steps|trainable_params|delta_|base_)/.test(name) && new Set(present.map((p) => p[0])).size > 1) {
      const lower = lowerBetter(name);
      best = present.reduce((b, p) => ((lower ? p[0] < b[0] : p[0] > b[0]) ? p : b))[1];
    }
    return { key, values, best };
  });
}

/** runCurves reads a job's whole event history and returns its metrics, metrics[node][name] = [[step, value], ...]. */
export async function runCurves(jobID: string): Promise<StreamState['metrics']> {
  let s = emptyStream();
  for (let after = 0, i = 0; i < 100; i++) {
    const page = await api.history(jobID, after, 5000);
    s = applyEvents(
      s,
      page.events.map((e) => ({ id: String(e.seq), type: e.type, data: JSON.stringify(e) })),
    );
    if (!page.events.length || page.next <= after) break;
    after = page.next;
  }
  return s.metrics;
}

/** runLabels names runs for legends and headers: the name, with the id's tail when two runs share a name. */
export function runLabels(jobs: Job[]): string[] {
  const names = jobs.map((j) => j.name || j.job_id);
  return names.map((n, i) => (names.filter((m) => m === n).length > 1 ? `${n} · ${jobs[i].job_id.slice(-6)}` : n));
}
