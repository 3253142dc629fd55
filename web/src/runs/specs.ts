// GET /jobs/{id} returns a job's nodes and params but not its edges, so the
// UI keeps the spec of each job it submitted (localStorage, newest 200) to
// draw the DAG and to re-run it. A job submitted elsewhere is drawn without
// edges, and re-run is offered only when the full spec is known.

import type { Job, PipelineSpec } from '../api';

const KEY = 'whet.jobs.specs';
const MAX = 200;

function load(): Record<string, PipelineSpec & { at: number }> {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? '{}');
  } catch {
    return {};
  }
}

export function rememberSpec(jobID: string, spec: PipelineSpec) {
  const all = load();
  all[jobID] = { ...spec, at: Date.now() };
  const keep = Object.entries(all)
    .sort((a, b) => b[1].at - a[1].at)
    .slice(0, MAX);
  try {
    localStorage.setItem(KEY, JSON.stringify(Object.fromEntries(keep)));
  } catch {
    /* storage full: the run page falls back to nodes without edges */
  }
}

/** specOfJob returns the job's pipeline and whether its edges are known. */
export function specOfJob(j: Job): { spec: PipelineSpec; complete: boolean } {
  if (j.spec?.nodes) return { spec: { name: j.spec.name ?? j.name, nodes: j.spec.nodes, edges: j.spec.edges ?? [] }, complete: true };
  const saved = load()[j.job_id];
  if (saved) {
    const { at: _at, ...spec } = saved;
    void _at;
    return { spec, complete: true };
  }
  const nodes = (j.nodes ?? []).map((n) => {
    const node: PipelineSpec['nodes'][number] = { id: n.id, agent: n.agent };
    if (n.params && Object.keys(n.params).length) node.params = n.params;
    return node;
  });
  return { spec: { name: j.name, nodes, edges: [] }, complete: nodes.length <= 1 };
}
