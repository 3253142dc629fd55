// Client for whet serve's REST API (base path /api/v1). Errors are RFC 9457
// problem+json documents; validation problems name the node and field.
// Credentials: every fetch carries the signed-in key (auth/session.ts wraps
// window.fetch); the XHR upload sets it here; URLs a browser opens by itself
// (EventSource, download links) carry it as ?access_token=.

import { getKey, unauthorized, withToken } from './auth/session';

export const API = '/api/v1';

export type ParamType = 'string' | 'integer' | 'number' | 'boolean' | 'array' | 'object';

export interface Param {
  name: string;
  type: ParamType;
  description?: string;
  default?: unknown;
  required?: boolean;
  minimum?: number;
  maximum?: number;
  enum?: string[];
  items?: ParamType;
  fields?: Param[];
  kind?: string;
}

export interface Port {
  type: string;
  name: string;
  description?: string;
  required?: boolean;
  multiple?: boolean;
}

export interface AgentSpec {
  name: string;
  description: string;
  category?: string;
  params: Param[] | null;
  inputs: Port[] | null;
  outputs: Port[] | null;
  gpu: boolean;
}

export interface PipelineSpec {
  name: string;
  nodes: { id: string; agent: string; params?: Record<string, unknown>; max_attempts?: number; cache?: boolean }[];
  edges: { from: string; to: string }[];
}

export interface Artifact {
  type: string;
  name: string;
  path?: string;
  uri?: string;
  meta?: Record<string, unknown>;
}

export type Status = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'skipped' | string;

export interface NodeRun {
  id: string;
  agent: string;
  params?: Record<string, unknown> | null;
  max_attempts?: number;
  cached?: boolean;
  status: Status;
  attempts?: number;
  started_at?: string | null;
  finished_at?: string | null;
  outputs?: Artifact[] | null;
  error?: string | null;
}

/** A dataset by content: an uploaded dataset (dataset_id) or a file or folder read in place (source). */
export interface DatasetVersion {
  dataset_id?: string;
  name?: string;
  source?: string;
  /** "sha256:" and the hex SHA-256 of the bytes */
  version: string;
}

/** What GET /jobs adds to each job: node counts and the facts of its training and evaluation. */
export interface JobSummary {
  nodes: number;
  nodes_succeeded: number;
  /** the base model's folder name, never a server path */
  base_model?: string;
  method?: string;
  final_loss?: number;
  final_val_loss?: number;
  primary_metric?: { name: string; value: number; base?: number; lower_is_better: boolean; node: string };
}

export interface Job {
  job_id: string;
  name: string;
  status: Status;
  created_at: string;
  started_at?: string | null;
  finished_at?: string | null;
  error?: string | null;
  nodes?: NodeRun[] | null;
  /** the dataset versions the job's nodes read */
  datasets?: DatasetVersion[] | null;
  spec?: PipelineSpec;
  summary?: JobSummary;
}

/** DatasetSummary is the headline of the profile computed at upload (GET /datasets has it for each dataset). */
export interface DatasetSummary {
  rows: number;
  /** the detected record format (alpaca, sharegpt, messages, completion, text, ...), not the file type */
  format: string;
  columns: string[];
  /** why the upload could not be profiled */
  error?: string;
}

export interface Dataset {
  dataset_id: string;
  name: string;
  size: number;
  sha256?: string;
  /** the file type from the upload's extension (json, jsonl, csv, ...) */
  format?: string;
  created_at?: string;
  rows?: number;
  /** "sha256:" and the hex SHA-256 of the bytes: the same bytes, the same version */
  version?: string;
  summary?: DatasetSummary;
  /** GET /datasets/{id}: the profile (rows, source_format, format, columns, fields, record_bytes, unreadable...) */
  profile?: unknown;
  sample?: unknown[];
  [k: string]: unknown;
}

/** DatasetVersion is one dataset by content: an uploaded dataset (dataset_id) or a file read in place (source). */
export interface DatasetVersion {
  dataset_id?: string;
  name?: string;
  source?: string;
  version: string;
}

/** Lineage is where a model came from; base_model may be a server path (show its folder name only). */
export interface Lineage {
  base_model?: string;
  /** "sha256:" and the hex SHA-256 of the base model's config and weights */
  base_model_version?: string;
  datasets?: DatasetVersion[] | null;
  /** where the base model came from, oldest first: the original base, then each model of this server trained from it, down to this model's base (servers before chains send none) */
  chain?: Ancestor[] | null;
}

/** Ancestor is one model of a lineage's chain: the original base (base_model, version) or a model of this server (model_id, name, job_id, version, datasets). */
export interface Ancestor {
  model_id?: string;
  name?: string;
  base_model?: string;
  version?: string;
  job_id?: string;
  datasets?: DatasetVersion[] | null;
}

export interface Model {
  model_id: string;
  name?: string;
  job_id?: string;
  node_id?: string;
  format?: string;
  output?: string;
  uri?: string;
  files?: string[] | null;
  size?: number;
  created_at?: string;
  meta?: Record<string, unknown>;
  lineage?: Lineage | null;
  [k: string]: unknown;
}

/** One entry of a problem's errors list: which node and field are wrong. */
export interface FieldError {
  node?: string;
  field?: string;
  message: string;
}

export class Problem extends Error {
  status: number;
  title: string;
  detail: string;
  errors: FieldError[];
  constructor(status: number, title: string, detail: string, errors: FieldError[]) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.errors = errors;
  }
}

/** parseProblem turns an RFC 9457 body (in any of the common shapes) into a Problem. */
export function parseProblem(status: number, body: unknown): Problem {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const title = typeof b.title === 'string' ? b.title : `HTTP ${status}`;
  const detail = typeof b.detail === 'string' ? b.detail : '';
  const raw = Array.isArray(b.errors) ? b.errors : Array.isArray(b['invalid-params']) ? (b['invalid-params'] as unknown[]) : [];
  const errors: FieldError[] = raw.map((e) => {
    const o = (e && typeof e === 'object' ? e : {}) as Record<string, unknown>;
    const str = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
    let node = str('node') ?? str('node_id');
    let field = str('field') ?? str('param') ?? str('name');
    let message = str('message') ?? str('detail') ?? str('reason') ?? JSON.stringify(o);
    // whet serve (huma): location "nodes[<node id>].params.lora.rank", message "node \"x\": params.lora.rank: 0 is ...".
    const loc = str('location');
    if (loc) {
      const m = /^(?:body\.)?nodes\[([^\]]+)\](?:\.(.+))?$/.exec(loc);
      if (m) {
        node ??= /^\d+$/.test(m[1]) && !str('node') ? `#${m[1]}` : m[1];
        field ??= m[2] ?? '';
      } else field ??= loc.replace(/^body\./, '');
    }
    if (node) message = message.replace(new RegExp(`^node "${node.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}": `), '');
    if (field) message = message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message;
    return { node, field, message };
  });
  return new Problem(status, title, detail, errors);
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
  }
  const res = await fetch(API + path, init);
  const text = await res.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) throw parseProblem(res.status, data);
  return data as T;
}

/** list unwraps a paged response ({items|jobs|datasets|models|data: [...]}) or a bare array. */
/** PlanEstimate is what a node will need (the dry run's estimate). */
export interface PlanEstimate {
  device: string;
  memory_bytes: number;
  tokens: number;
  steps: number;
  seconds: number;
  cpu_seconds?: number;
  available_bytes?: number;
  fits: boolean;
  warning?: string;
  basis?: string;
}

/** Plan is a dry run: the nodes in execution order. */
export interface Plan {
  nodes: { id: string; agent: string; cached: boolean; estimate: PlanEstimate | null; error?: string }[];
}

export function list<T>(data: unknown, ...keys: string[]): T[] {
  if (Array.isArray(data)) return data as T[];
  if (data && typeof data === 'object') {
    const o = data as Record<string, unknown>;
    for (const k of [...keys, 'items', 'data', 'results']) if (Array.isArray(o[k])) return o[k] as T[];
  }
  return [];
}

/** PageParams are what a paged, filtered list endpoint reads: q (contains, any case), format (comma-separated), limit and offset. */
export interface PageParams {
  q?: string;
  format?: string;
  limit?: number;
  offset?: number;
}

/** Page is one answer: the items of the page and how many the filters keep on the server. */
export interface Page<T> {
  items: T[];
  total: number;
}

/** pageQuery writes the params a list endpoint reads ("" when none). */
export function pageQuery(p: PageParams): string {
  const q = new URLSearchParams();
  if (p.q) q.set('q', p.q);
  if (p.format) q.set('format', p.format);
  if (p.limit) q.set('limit', String(p.limit));
  if (p.offset) q.set('offset', String(p.offset));
  const qs = q.toString();
  return qs ? `?${qs}` : '';
}

/** withRows adds rows from a listed dataset's profile summary. */
const withRows = (d: Dataset): Dataset => (d.rows === undefined && d.summary && !d.summary.error ? { ...d, rows: d.summary.rows } : d);

/** listPage is one page of a paged list endpoint: its items (under key) and total (the page's length when the answer has none). */
async function listPage<T>(path: string, key: string): Promise<Page<T>> {
  const data = await request<unknown>('GET', path);
  const items = list<T>(data, key);
  const total = data && typeof data === 'object' && typeof (data as { total?: unknown }).total === 'number' ? (data as { total: number }).total : items.length;
  return { items, total };
}

export const api = {
  agents: async () => list<AgentSpec>(await request('GET', '/agents'), 'agents'),
  submit: (spec: PipelineSpec) => request<{ job_id: string; status: string }>('POST', '/jobs', spec),
  /** plan is a dry run (POST /jobs?dry_run=true): nothing runs; train nodes are timed by a short warm-up. */
  plan: (spec: PipelineSpec) => request<Plan>('POST', '/jobs?dry_run=true', spec),
  /** check runs the server's checks (schema, files, models, datasets, cross-field rules) without starting anything. */
  check: (spec: PipelineSpec) => request<{ valid: boolean; errors: FieldError[] }>('POST', '/pipelines/validate', spec),
  /** jobs lists jobs newest first; total counts every job matching the filter. */
  jobs: async (status?: string, limit = 100) => {
    const q = new URLSearchParams({ limit: String(limit) });
    if (status) q.set('status', status);
    const data = await request<unknown>('GET', `/jobs?${q}`);
    const jobs = list<Job>(data, 'jobs');
    const total = data && typeof data === 'object' && typeof (data as { total?: unknown }).total === 'number' ? (data as { total: number }).total : jobs.length;
    return { jobs, total };
  },
  job: (id: string) => request<Job>('GET', `/jobs/${encodeURIComponent(id)}`),
  cancel: (id: string) => request<unknown>('DELETE', `/jobs/${encodeURIComponent(id)}`),
  /** datasets lists uploaded datasets; rows comes from each one's profile summary. */
  datasets: async () => list<Dataset>(await request('GET', '/datasets'), 'datasets').map(withRows),
  /** datasetPage is one page of GET /datasets, newest first: q keeps datasets whose name or dataset_id contains it (any case), format those whose detected record format is one of the given (comma-separated); total counts every dataset the filters keep. */
  datasetPage: async (p: PageParams = {}) => {
    const r = await listPage<Dataset>(`/datasets${pageQuery(p)}`, 'datasets');
    return { datasets: r.items.map(withRows), total: r.total };
  },
  dataset: (id: string) => request<Dataset>('GET', `/datasets/${encodeURIComponent(id)}`),
  models: async (limit?: number) => list<Model>(await request('GET', `/models${limit ? `?limit=${limit}` : ''}`), 'models'),
  /** modelPage is one page of GET /models, newest first: q keeps models whose name, model_id or job_id contains it (any case), format those of the given formats (comma-separated); total counts every model the filters keep. */
  modelPage: async (p: PageParams = {}) => {
    const r = await listPage<Model>(`/models${pageQuery(p)}`, 'models');
    return { models: r.items, total: r.total };
  },
  model: (id: string) => request<Model>('GET', `/models/${encodeURIComponent(id)}`),
  /** deleteModel deletes a model and its files; a 409 Problem names what still needs it (force deletes a base of LoRA adapters anyway). */
  deleteModel: (id: string, force = false) =>
    request<{ model_id: string; deleted: boolean }>('DELETE', `/models/${encodeURIComponent(id)}${force ? '?force=true' : ''}`),
  /** deleteDataset deletes an uploaded dataset and its file; a 409 Problem names the queued or running jobs that read it. */
  deleteDataset: (id: string) => request<{ dataset_id: string; deleted: boolean }>('DELETE', `/datasets/${encodeURIComponent(id)}`),
  history: (jobID: string, after = 0, limit = 1000) =>
    request<{ events: { seq: number; type: string; node?: string; time: string; data: unknown }[]; next: number }>(
      'GET',
      `/logs/history/${encodeURIComponent(jobID)}?after=${after}&limit=${limit}`,
    ),
  /** the model folder as tar, or one file of it; a link the browser opens, so it carries the key. */
  modelDownloadURL: (id: string, file?: string) =>
    withToken(`${API}/models/${encodeURIComponent(id)}/download${file ? `?file=${encodeURIComponent(file)}` : ''}`),
  /** the job's SSE stream (events after seq `after`); EventSource cannot send headers, so it carries the key. */
  logStreamURL: (jobID: string, after = 0) => withToken(`${API}/logs/stream/${encodeURIComponent(jobID)}${after ? `?after=${after}` : ''}`),
  get: <T>(path: string) => request<T>('GET', path),
};

/** upload sends a file as multipart/form-data, reporting progress in [0,1]. */
export function upload(
  file: File,
  name: string,
  onProgress: (fraction: number) => void,
): { promise: Promise<Dataset>; abort: () => void } {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<Dataset>((resolve, reject) => {
    xhr.open('POST', `${API}/datasets/upload`);
    xhr.setRequestHeader('Accept', 'application/json');
    const key = getKey();
    if (key) xhr.setRequestHeader('Authorization', `Bearer ${key}`);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      let data: unknown;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = xhr.responseText;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(data as Dataset);
      } else {
        const p = parseProblem(xhr.status, data);
        if (xhr.status === 401) unauthorized(p.detail || p.title);
        reject(p);
      }
    };
    xhr.onerror = () => reject(new Error('upload failed: network error'));
    xhr.onabort = () => reject(new Error('upload cancelled'));
    const form = new FormData();
    if (name) form.append('name', name);
    form.append('file', file);
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}
