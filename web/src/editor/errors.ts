// Server validation problems, placed on the node and field they name.

import type { FieldError } from '../api';
import type { Graph } from './pipeline';

/** ServerErrors maps node id → field ("" for the node itself) → message. */
export type ServerErrors = Record<string, Record<string, string>>;

export function groupErrors(errs: FieldError[], g: Graph): { byNode: ServerErrors; general: string[] } {
  const byNode: ServerErrors = {};
  const general: string[] = [];
  for (const e of errs) {
    let node = e.node;
    if (node?.startsWith('#')) node = g.nodes[Number(node.slice(1))]?.id;
    if (node && g.nodes.some((n) => n.id === node)) {
      // fields are paths such as "params.lora.rank": the form shows them on the top-level param
      let field = e.field ?? '';
      let msg = e.message;
      const m = /^params\.([^.[\]]+)(.*)$/.exec(field);
      if (m) {
        field = m[1];
        if (m[2]) msg = `${m[2].replace(/^\./, '')}: ${msg}`;
      } else if (field && field !== 'params') {
        msg = `${field}: ${msg}`;
        field = '';
      } else field = '';
      const cur = (byNode[node] ??= {});
      cur[field] = cur[field] ? `${cur[field]}; ${msg}` : msg;
    } else general.push([e.node, e.field, e.message].filter(Boolean).join(': '));
  }
  return { byNode, general };
}
