// What a model's page shows, computed from GET /models/{id} (and, when they
// load, its run and the run's other models): its format, metrics and any
// series in its metadata, the evaluations its run made of it, its chain of
// ancestor models, and a pipeline that fine-tunes it further. Nothing here
// returns a server path: names are cut to their last element (paths.ts).

import type { Job, Model, PipelineSpec } from '../api';
import type { Series } from '../ui/charts';
import { runOverview, type Headline } from '../runs/summary';
import { artifactRef, basename, scrub, stripPaths } from './paths';

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
export const MODEL_ID = /^mdl_[A-Za-z0-9]+$/;

/** ModelFormat is what a model's files are, for people: "GGUF", "PEFT LoRA adapter"... and the raw format. */
export interface ModelFormat {
  /** the recorded format (meta.format), else the output's name */
  format: string;
  label: string;
  /** the GGUF folder has an Ollama Modelfile */
  ollama: boolean;
}

const FORMATS: Record<string, string> = {
  'peft-lora': 'PEFT LoRA adapter',
  adapter: 'PEFT LoRA adapter',
  merged: 'merged safetensors (Hugging Face)',
  hf: 'full weights, safetensors (Hugging Face)',
  gguf: 'GGUF (llama.cpp)',
};

export function modelFormat(m: Model): ModelFormat {
  const format = [m.format, m.meta?.format, m.output].find((f): f is string => typeof f === 'string' && !!f) ?? '';
  const ollama = (m.files ?? []).includes('Modelfile');
  return { format, label: FORMATS[format] ?? (format || 'unknown'), ollama };
}

/** usableAsBase says whether a train node can start from the model: a Hugging Face folder (config.json and weights), not an adapter or GGUF. */
export function usableAsBase(m: Model): boolean {
  const files = m.files ?? [];
  return files.includes('config.json') && files.some((f) => /\.(safetensors|bin)$/.test(f)) && !files.includes('adapter_config.json');
}

/** Metric is one number the model's metadata records. */
export interface Metric {
  key: string;
  value: number;
}

// The training facts a trained model records (and an export copies into meta.metrics), in this order.
const TRAIN_KEYS = [
  'final_loss',
  'final_val_loss',
  'initial_val_loss',
  'final_val_reward_accuracy',
  'initial_val_reward_accuracy',
  'final_val_reward_margin',
  'steps',
  'trainable_params',
  'train_seconds',
];

/** modelMetrics lists the numbers of a model's meta.metrics and its training facts (final_loss, steps...), known ones first. */
export function modelMetrics(m: Model): Metric[] {
  const meta = m.meta ?? {};
  const out = new Map<string, number>();
  for (const k of TRAIN_KEYS) {
    const v = num(meta[k]);
    if (v !== undefined) out.set(k, v);
  }
  if (isObj(meta.metrics))
    for (const [k, x] of Object.entries(meta.metrics)) {
      const v = num(x);
      if (v !== undefined && !out.has(k)) out.set(k, v);
    }
  const rank = (k: string) => (TRAIN_KEYS.includes(k) ? TRAIN_KEYS.indexOf(k) : TRAIN_KEYS.length);
  return [...out.entries()].map(([key, value]) => ({ key, value })).sort((a, b) => rank(a.key) - rank(b.key) || a.key.localeCompare(b.key));
}

/** Chart is one chart of a series the metadata carries. */
export interface Chart {
  title: string;
  series: Series[];
}

// seriesOf reads a value as series: a list of numbers (x is 1, 2, ...), or of records with a numeric step (or epoch) and numeric fields.
function seriesOf(name: string, v: unknown): Series[] {
  if (!Array.isArray(v) || v.length < 2) return [];
  if (v.every((x) => num(x) !== undefined)) return [{ name, points: v.map((y, i) => [i + 1, y as number]) }];
  if (!v.every(isObj)) return [];
  const xKey = ['step', 'epoch', 'x'].find((k) => v.every((r) => num(r[k]) !== undefined));
  if (!xKey) return [];
  const keys = [...new Set(v.flatMap((r) => Object.keys(r)))].filter((k) => k !== xKey && v.filter((r) => num(r[k]) !== undefined).length >= 2);
  return keys.map((k) => ({ name: k, points: v.filter((r) => num(r[k]) !== undefined).map((r) => [r[xKey] as number, r[k] as number]) }));
}

/** metaCharts finds the series in a model's metadata (top level and meta.metrics): one chart each. */
export function metaCharts(m: Model): Chart[] {
  const meta = m.meta ?? {};
  const out: Chart[] = [];
  const scan = (o: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(o)) {
      if (k === 'files' || k === 'checks') continue;
      const s = seriesOf(k, v);
      if (s.length) out.push({ title: k.replace(/_/g, ' '), series: s });
    }
  };
  scan(meta);
  if (isObj(meta.metrics)) scan(meta.metrics);
  return out;
}

/** GGUFCheck is one GGUF file's check against the model it came from (internal/export/verify Check). */
export interface GGUFCheck {
  file: string;
  type?: string;
  greedy_agreement?: number;
  max_logprob_gap?: number;
  passed?: boolean;
  positions?: number;
}

export function ggufChecks(m: Model): GGUFCheck[] {
  const c = m.meta?.checks;
  if (!Array.isArray(c)) return [];
  return c
    .filter(isObj)
    .filter((x) => typeof x.file === 'string')
    .map((x) => ({
      file: basename(x.file as string),
      type: typeof x.type === 'string' ? x.type : undefined,
      greedy_agreement: num(x.greedy_agreement),
      max_logprob_gap: num(x.max_logprob_gap),
      passed: typeof x.passed === 'boolean' ? x.passed : undefined,
      positions: num(x.positions),
    }));
}

// Keys the page shows in their own sections (or never: uri is a storage key).
const SHOWN = new Set([
  'model_id', 'name', 'job_id', 'node_id', 'output', 'format', 'size', 'created_at', 'meta', 'path', 'uri', 'files', 'team', 'lineage', 'chain',
  'history', 'sha256', 'base_model', 'metrics', 'checks', 'hyperparameters', ...TRAIN_KEYS,
]);

/** otherMeta is the rest of a model's metadata (method, arch, template, LoRA settings...) with every path cut to its last element. */
export function otherMeta(m: Model): [string, unknown][] {
  const top = Object.entries(m).filter(([k]) => !SHOWN.has(k));
  const meta = Object.entries(m.meta ?? {}).filter(([k, v]) => !SHOWN.has(k) && !seriesOf(k, v).length);
  return [...top, ...meta].filter(([, v]) => v !== null && v !== undefined && v !== '').map(([k, v]) => [k, scrub(v)]);
}

/** hyperparameters are the settings the model was trained with (meta.hyperparameters), paths cut. */
export function hyperparameters(m: Model): [string, unknown][] {
  const hp = m.meta?.hyperparameters;
  return isObj(hp) ? Object.entries(hp).map(([k, v]) => [k, scrub(v)]) : [];
}

/** ChainLink is one model of a lineage chain: a model of this server (id, linked) or the base model at its root (a name). */
export interface ChainLink {
  id?: string;
  label: string;
  /** the run that made it */
  job?: string;
  /** its content version */
  version?: string;
  /** the datasets its run trained it on, by name */
  datasets?: string[];
  /** this model */
  self?: boolean;
}

function link(x: unknown): ChainLink | null {
  if (typeof x === 'string' && x) return MODEL_ID.test(x) ? { id: x, label: x } : { label: basename(stripPaths(x)) };
  if (!isObj(x)) return null;
  const str = (k: string) => (typeof x[k] === 'string' && x[k] ? (x[k] as string) : undefined);
  const id = [str('model_id'), str('id')].find((s) => s && MODEL_ID.test(s));
  const ref = artifactRef(str('base_model'));
  const base = str('base_model') && !MODEL_ID.test(str('base_model')!) ? (ref?.label ?? basename(str('base_model')!)) : undefined;
  const name = str('name') ? stripPaths(str('name')!) : undefined;
  const label = (id ? name : undefined) ?? name ?? base ?? id;
  if (!label) return null;
  const l: ChainLink = { label };
  if (id) l.id = id;
  const job = str('job_id') ?? ref?.job;
  if (job) l.job = job;
  const version = str('version') ?? str('base_model_version');
  if (version) l.version = version;
  const ds = Array.isArray(x.datasets) ? x.datasets.filter(isObj).map((d) => (typeof d.name === 'string' && d.name ? basename(d.name) : typeof d.source === 'string' && d.source ? basename(d.source) : typeof d.dataset_id === 'string' ? d.dataset_id : '')).filter(Boolean) : [];
  if (ds.length) l.datasets = [...new Set(ds)];
  return l;
}

/**
 * modelChain is the chain of models a model came from, root first and the
 * model itself last, from the `chain` GET /models/{id} may add (in lineage,
 * or at the top level; root first as the API writes it, or nearest ancestor
 * first, both read); [] when the API gives none, and when the chain holds no
 * model of this server (a base folder alone is the lineage's base model).
 */
export function modelChain(m: Model): ChainLink[] {
  const inLineage = isObj(m.lineage) ? (m.lineage as Record<string, unknown>).chain : undefined;
  const raw = Array.isArray(inLineage) ? inLineage : Array.isArray(m.chain) ? m.chain : null;
  if (!raw?.length) return [];
  let links = raw.map(link).filter((l): l is ChainLink => !!l && l.id !== m.model_id);
  if (!links.some((l) => l.id)) return [];
  const parent = typeof m.lineage?.base_model === 'string' ? m.lineage.base_model : undefined;
  const created = raw.map((x) => (isObj(x) && typeof x.created_at === 'string' ? x.created_at : ''));
  const nearestFirst =
    links.length > 1 &&
    ((parent && links[0].id === parent && links[links.length - 1].id !== parent) ||
      // no parent to go by: a root that is not a model of this server comes last
      (!parent && !links[links.length - 1].id && !!links[0].id) ||
      (created.every(Boolean) && created[0] > created[created.length - 1]));
  if (nearestFirst) links = links.reverse();
  return [...links, { id: m.model_id, label: m.name ? stripPaths(m.name) : m.model_id, self: true }];
}

/** Evaluation is what an evaluate node of the model's run measured, of this model or of the model it was exported from. */
export interface Evaluation {
  node: string;
  /** the model it read, by node and output ("tune/model") */
  of?: string;
  /** it read this very model (not the one it was exported from) */
  own: boolean;
  metrics: Metric[];
}

/** RunEvaluation is the evaluations of a model in its run and the run's base-vs-tuned headline. */
export interface RunEvaluation {
  evaluations: Evaluation[];
  headline?: Headline;
}

/** modelEvaluations finds the run's evaluation reports of the model (or of its parent, the model it was exported from). */
export function modelEvaluations(m: Model, job?: Job | null, parent?: Model): RunEvaluation {
  const evaluations: Evaluation[] = [];
  const own = m.node_id && m.output ? `${m.node_id}/${m.output}` : '';
  const from = parent?.node_id && parent.output ? `${parent.node_id}/${parent.output}` : '';
  for (const n of job?.nodes ?? [])
    for (const a of n.outputs ?? []) {
      if (a.type !== 'report' || a.meta?.kind !== 'evaluation') continue;
      const read = artifactRef(a.meta?.model)?.label.replace(/\/+$/, '');
      // an evaluation of another model of the run is not this model's
      if (read && read !== own && read !== from) continue;
      const ms = isObj(a.meta?.metrics) ? a.meta.metrics : {};
      const metrics = Object.entries(ms)
        .map(([key, v]) => ({ key, value: num(v) }))
        .filter((x): x is Metric => x.value !== undefined);
      if (metrics.length) evaluations.push({ node: n.id, ...(read ? { of: read } : {}), own: !!read && read === own, metrics });
    }
  const headline = evaluations.length && job ? runOverview(job).headline : undefined;
  return { evaluations, ...(headline ? { headline } : {}) };
}

/** baseSnippet is the YAML of a train node that starts from the model. */
export const baseSnippet = (id: string) => `- id: tune\n  agent: train\n  params:\n    base_model: ${id}\n    method: lora\n`;

/**
 * basePipeline is a pipeline that fine-tunes the model further: its run's
 * pipeline (same data, tokenizer and settings) with each first train node's
 * base_model set to the model's id, or without the run, dataset →
 * preprocess → train → export with the model's uploaded dataset when it has
 * one.
 */
export function basePipeline(m: Model, job?: Job | null): PipelineSpec {
  const short = m.model_id.replace(/^mdl_/, '').slice(-6).toLowerCase();
  const spec = job?.spec;
  const trains = spec?.nodes.filter((n) => n.agent === 'train') ?? [];
  if (spec && trains.length) {
    const byID = new Map(spec.nodes.map((n) => [n.id, n]));
    // a train node fed by another train (or export) node already starts from a model of this pipeline
    const fed = (id: string) => spec.edges.some((e) => e.to === id && ['train', 'export'].includes(byID.get(e.from)?.agent ?? ''));
    return {
      name: `${spec.name || job?.name || 'pipeline'}-from-${short}`.slice(0, 200),
      nodes: spec.nodes.map((n) => (n.agent === 'train' && !fed(n.id) ? { ...n, params: { ...(n.params ?? {}), base_model: m.model_id } } : { ...n, params: { ...(n.params ?? {}) } })),
      edges: spec.edges.map((e) => ({ ...e })),
    };
  }
  const ds = (m.lineage?.datasets ?? []).find((d) => d.dataset_id)?.dataset_id ?? '';
  return {
    name: `finetune-${short}`,
    nodes: [
      { id: 'data', agent: 'dataset', params: { source: ds } },
      { id: 'prep', agent: 'preprocess', params: {} },
      { id: 'tune', agent: 'train', params: { base_model: m.model_id, method: 'lora' } },
      { id: 'export', agent: 'export', params: { formats: ['adapter', 'gguf'] } },
    ],
    edges: [
      { from: 'data', to: 'prep' },
      { from: 'prep', to: 'tune' },
      { from: 'tune', to: 'export' },
    ],
  };
}
