// The app's pages. To add a page, add one entry here (and a nav entry if it
// belongs in the top bar); App needs no change.

import type { ReactNode } from 'react';
import { EditorPage } from './editor/Editor';
import { RunsPage } from './runs/RunsPage';
import { RunPage } from './runs/RunPage';
import { ComparePage } from './runs/ComparePage';
import { DatasetsPage, DatasetPage } from './data/DatasetsPage';
import { ModelsPage } from './data/ModelsPage';
import { ModelPage } from './data/ModelPage';
import { PlaygroundPage } from './playground/Playground';

export interface Route {
  /** exact path, or a pattern whose groups are passed (decoded) to render. */
  path: string | RegExp;
  title: string;
  render: (params: string[]) => ReactNode;
}

export interface NavItem {
  to: string;
  label: string;
  match: (path: string) => boolean;
  /** the page only does writes (hidden from viewers). */
  write?: boolean;
}

export const routes: Route[] = [
  { path: '/', title: 'Editor', render: () => <EditorPage /> },
  { path: '/editor', title: 'Editor', render: () => <EditorPage /> },
  { path: '/runs', title: 'Runs', render: () => <RunsPage /> },
  { path: '/runs/compare', title: 'Compare runs', render: () => <ComparePage /> },
  { path: /^\/runs\/([^/]+)$/, title: 'Run', render: ([id]) => <RunPage key={id} id={id} /> },
  { path: '/datasets', title: 'Datasets', render: () => <DatasetsPage /> },
  { path: /^\/datasets\/([^/]+)$/, title: 'Dataset', render: ([id]) => <DatasetPage key={id} id={id} /> },
  { path: '/models', title: 'Models', render: () => <ModelsPage /> },
  { path: /^\/models\/([^/]+)$/, title: 'Model', render: ([id]) => <ModelPage key={id} id={id} /> },
  { path: '/playground', title: 'Playground', render: () => <PlaygroundPage /> },
];

export const nav: NavItem[] = [
  { to: '/', label: 'Editor', match: (p) => p === '/' || p.startsWith('/editor') },
  { to: '/runs', label: 'Runs', match: (p) => p.startsWith('/runs') },
  { to: '/datasets', label: 'Datasets', match: (p) => p.startsWith('/datasets') },
  { to: '/models', label: 'Models', match: (p) => p.startsWith('/models') },
  { to: '/playground', label: 'Playground', match: (p) => p.startsWith('/playground'), write: true },
];

/** match finds the route of a path and its decoded params. */
export function match(path: string): { route: Route; params: string[] } | null {
  for (const route of routes) {
    if (typeof route.path === 'string') {
      if (route.path === path) return { route, params: [] };
      continue;
    }
    const m = route.path.exec(path);
    if (m) return { route, params: m.slice(1).map((s) => decodeURIComponent(s)) };
  }
  return null;
}
