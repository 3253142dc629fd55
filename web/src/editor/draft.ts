// The editor's draft survives reloads in localStorage. Secret params (an LLM
// judge's API key) never go there: they stay in memory for this page only.

import type { AgentSpec, Param } from '../api';
import type { Graph } from './pipeline';

export const DRAFT_KEY = 'whet.editor.draft';

// looksSecret is the fallback for params whose agent spec is not known (yet):
// judge_key, api_key, secret, password, token.
const looksSecret = (name: string) => /(^|_)(key|secret|password|token)$/i.test(name);

/** redactSecrets returns g without the params (or object fields) its agents mark kind "secret". */
export function redactSecrets(g: Graph, specOf?: Map<string, AgentSpec>): Graph {
  return { ...g, nodes: g.nodes.map((n) => ({ ...n, params: redact(n.params ?? {}, specOf?.get(n.agent)?.params ?? undefined) })) };
}

// redact drops secret entries of values; with no schema it goes by name.
function redact(values: Record<string, unknown>, schema: Param[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) {
    const p = schema?.find((q) => q.name === k);
    if (schema ? p?.kind === 'secret' : looksSecret(k)) continue;
    const isObj = v !== null && typeof v === 'object' && !Array.isArray(v);
    out[k] = isObj && (!schema || p?.fields) ? redact(v as Record<string, unknown>, p?.fields) : v;
  }
  return out;
}

export function loadDraft(): Graph {
  try {
    const s = localStorage.getItem(DRAFT_KEY);
    if (s) {
      const g = JSON.parse(s) as Graph;
      if (Array.isArray(g.nodes) && Array.isArray(g.edges)) return redactSecrets(g);
    }
  } catch {
    /* a bad draft is dropped */
  }
  return { name: 'my-pipeline', nodes: [], edges: [] };
}

export function saveDraft(g: Graph, specOf?: Map<string, AgentSpec>) {
  localStorage.setItem(DRAFT_KEY, JSON.stringify(redactSecrets(g, specOf)));
}
