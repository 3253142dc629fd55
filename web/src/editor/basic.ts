// Which params of an agent the node inspector shows first ("basic": the ones
// people set for most runs); the rest are behind "Show advanced params". The
// agents' schemas have no such mark, so it is kept here, per agent; an agent
// not listed shows every param when it has few, else its required ones and
// the ones that name an input (a dataset, a model, a path).

import type { AgentSpec, Param } from '../api';

export const BASIC: Record<string, string[]> = {
  dataset: ['source', 'format', 'columns', 'tokenizer'],
  validate: ['fail_on', 'near_duplicate_threshold', 'max_tokens', 'tokenizer'],
  preprocess: ['tokenizer', 'template', 'max_tokens', 'validation_split', 'dedup'],
  train: ['base_model', 'method', 'lora', 'epochs', 'max_steps', 'learning_rate', 'batch_size', 'max_seq_len'],
  evaluate: ['metrics', 'samples', 'max_new_tokens'],
  export: ['formats', 'model', 'name', 'gguf_types'],
};

/** FEW is the most params an unlisted agent may have and still show them all. */
export const FEW = 6;

/** splitParams splits an agent's params into basic and advanced, each in the schema's order. */
export function splitParams(spec: AgentSpec | undefined): { basic: Param[]; advanced: Param[] } {
  const params = spec?.params ?? [];
  const listed = spec ? BASIC[spec.name] : undefined;
  if (!listed && params.length <= FEW) return { basic: params, advanced: [] };
  const isBasic = (p: Param) => p.required || (listed ? listed.includes(p.name) : ['dataset', 'model', 'path'].includes(p.kind ?? ''));
  return { basic: params.filter(isBasic), advanced: params.filter((p) => !isBasic(p)) };
}
