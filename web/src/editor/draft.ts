// The editor's draft survives reloads in localStorage.

import type { Graph } from './pipeline';

export const DRAFT_KEY = 'whet.editor.draft';

export function loadDraft(): Graph {
  try {
    const s = localStorage.getItem(DRAFT_KEY);
    if (s) {
      const g = JSON.parse(s) as Graph;
      if (Array.isArray(g.nodes) && Array.isArray(g.edges)) return g;
    }
  } catch {
    /* a bad draft is dropped */
  }
  return { name: 'my-pipeline', nodes: [], edges: [] };
}

export function saveDraft(g: Graph) {
  localStorage.setItem(DRAFT_KEY, JSON.stringify(g));
}
