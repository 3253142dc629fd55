// What the runs list and the compare page read from a job: its summary
// (GET /jobs adds one to each job), else what the spec and nodes say.

import type { Job, JobSummary } from '../api';
import { artifactRef, displayRef } from '../data/paths';

export interface RunFacts {
  base?: string;
  method?: string;
  loss?: number;
  primary?: JobSummary['primary_metric'];
  /** [succeeded, total] nodes, when known */
  nodes?: [number, number];
}

const folder = (p: string) => (artifactRef(p) ? displayRef(p) : p.replace(/[\\/]+$/, '').split(/[\\/]/).pop() || undefined);

/** runFacts reads a run's base model (folder name), method, final loss, primary metric and node counts. */
export function runFacts(j: Job): RunFacts {
  const s = j.summary;
  const specNode = j.spec?.nodes.find((n) => n.agent === 'train');
  const run = (j.nodes ?? []).find((n) => n.agent === 'train');
  const params = (specNode?.params ?? run?.params ?? {}) as Record<string, unknown>;
  const meta = run?.outputs?.find((o) => o.type === 'model')?.meta ?? {};
  const out: RunFacts = {};
  // the summary names it already (a folder by name, another node's model as node/output)
  const base = s?.base_model ?? folder(typeof meta.base_model === 'string' ? meta.base_model : typeof params.base_model === 'string' ? params.base_model : '');
  if (base) out.base = base;
  if (s?.method) out.method = s.method;
  else if (specNode || run) out.method = typeof meta.method === 'string' ? meta.method : typeof params.method === 'string' ? params.method : 'lora';
  out.loss = s?.final_loss ?? (typeof meta.final_loss === 'number' ? meta.final_loss : undefined);
  out.primary = s?.primary_metric ?? comparedPrimary(j);
  if (s) out.nodes = [s.nodes_succeeded, s.nodes];
  else if (j.nodes?.length) out.nodes = [j.nodes.filter((n) => n.status === 'succeeded').length, j.nodes.length];
  return out;
}

export interface RunFilter {
  status?: string;
  base?: string;
  q?: string;
}

/** filterRuns keeps the runs matching the status, base model and search (name or id), newest first. */
export function filterRuns(jobs: Job[], f: RunFilter): Job[] {
  const q = (f.q ?? '').trim().toLowerCase();
  return jobs
    .filter((j) => !f.status || j.status === f.status)
    .filter((j) => !f.base || runFacts(j).base === f.base)
    .filter((j) => !q || `${j.name} ${j.job_id}`.toLowerCase().includes(q))
    .sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
}

/** baseModels lists the base models of the runs, sorted, for the filter. */
export function baseModels(jobs: Job[]): string[] {
  return [...new Set(jobs.map((j) => runFacts(j).base).filter((b): b is string => !!b))].sort();
}

/** comparedPrimary reads the primary metric of a job's compare node (a job from GET /jobs/{id} has no summary). */
function comparedPrimary(j: Job): JobSummary['primary_metric'] {
  for (const n of j.nodes ?? [])
    for (const o of n.outputs ?? []) {
      const m = o.meta ?? {};
      const name = typeof m.primary_metric === 'string' ? m.primary_metric : '';
      const ms = (m.metrics ?? {}) as Record<string, unknown>;
      if (o.type === 'report' && m.kind === 'comparison' && name && typeof ms[`tuned_${name}`] === 'number')
        return {
          name,
          value: ms[`tuned_${name}`] as number,
          base: typeof ms[`base_${name}`] === 'number' ? (ms[`base_${name}`] as number) : undefined,
          lower_is_better: name === 'loss' || name === 'perplexity',
          node: n.id,
        };
    }
  return undefined;
}
