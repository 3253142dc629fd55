// Run names: the pipeline's name and the date and time ("lora-finetune-2026-12-04-1530"),
// so that runs are told apart in the runs list; editable before submitting. A
// pipeline still called by the default name is named after its main step and
// what it works on ("train-stories260K").

import type { Dataset } from '../api';
import type { Graph } from './pipeline';

export const DEFAULT_PIPELINE_NAME = 'my-pipeline';

// the agent a pipeline is best named after, most telling first
const MAIN = ['train', 'evaluate', 'export', 'compare', 'preprocess', 'validate', 'dataset'];

const base = (p: unknown) => (typeof p === 'string' ? p.replace(/\/+$/, '').split('/').pop() ?? '' : '');
const slug = (s: string) =>
  s
    .trim()
    .replace(/\.[A-Za-z0-9]{1,8}$/, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^-+|-+$/g, '');

/** pipelineBase is the name runs of g start with. */
export function pipelineBase(g: Graph, datasets: Dataset[] = []): string {
  const own = slug(g.name ?? '');
  if (own && own !== DEFAULT_PIPELINE_NAME) return own.slice(0, 80);
  const main = MAIN.map((a) => g.nodes.find((n) => n.agent === a)).find(Boolean) ?? g.nodes[0];
  if (!main) return DEFAULT_PIPELINE_NAME;
  const p = main.params ?? {};
  let subject = base(p.base_model) || base(p.model);
  if (!subject) {
    const src = g.nodes.find((n) => n.agent === 'dataset')?.params?.source;
    const ds = datasets.find((d) => d.dataset_id === src);
    subject = ds?.name || base(src);
  }
  return [main.agent, slug(subject)].filter(Boolean).join('-').slice(0, 80);
}

const pad = (n: number) => String(n).padStart(2, '0');

/** stamp is the local date and time to the minute: 2026-12-04-1530. */
export function stamp(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}-${pad(d.getHours())}${pad(d.getMinutes())}`;
}

/** runName is the name a run of g gets unless the user types another. */
export function runName(g: Graph, now: Date, datasets: Dataset[] = []): string {
  return `${pipelineBase(g, datasets)}-${stamp(now)}`;
}
