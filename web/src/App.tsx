import { useEffect } from 'react';
import { EditorPage } from './editor/Editor';
import { RunsPage } from './runs/RunsPage';
import { RunPage } from './runs/RunPage';
import { DatasetsPage, DatasetPage } from './data/DatasetsPage';
import { ModelsPage } from './data/ModelsPage';
import { PlaygroundPage } from './playground/Playground';
import { Link, useLocation } from './ui/router';
import { useTheme } from './ui/theme';

const nav = [
  { to: '/', label: 'Editor', match: (p: string) => p === '/' || p.startsWith('/editor') },
  { to: '/runs', label: 'Runs', match: (p: string) => p.startsWith('/runs') },
  { to: '/datasets', label: 'Datasets', match: (p: string) => p.startsWith('/datasets') },
  { to: '/models', label: 'Models', match: (p: string) => p.startsWith('/models') },
  { to: '/playground', label: 'Playground', match: (p: string) => p.startsWith('/playground') },
];

export function App() {
  const { path } = useLocation();
  const { theme, toggle } = useTheme();
  let page: React.ReactNode;
  let title = 'Editor';
  let m: RegExpExecArray | null;
  if ((m = /^\/runs\/([^/]+)$/.exec(path))) {
    page = <RunPage key={m[1]} id={decodeURIComponent(m[1])} />;
    title = 'Run';
  } else if (path === '/runs') {
    page = <RunsPage />;
    title = 'Runs';
  } else if ((m = /^\/datasets\/([^/]+)$/.exec(path))) {
    page = <DatasetPage key={m[1]} id={decodeURIComponent(m[1])} />;
    title = 'Dataset';
  } else if (path === '/datasets') {
    page = <DatasetsPage />;
    title = 'Datasets';
  } else if (path === '/playground') {
    page = <PlaygroundPage />;
    title = 'Playground';
  } else if (path === '/models') {
    page = <ModelsPage />;
    title = 'Models';
  } else if (path === '/' || path === '/editor') {
    page = <EditorPage />;
  } else {
    page = (
      <div className="page">
        <h1>Not found</h1>
        <p>
          No page at <code>{path}</code>. <Link to="/">Go to the editor</Link>.
        </p>
      </div>
    );
    title = 'Not found';
  }
  useEffect(() => {
    document.title = `${title} · Whetstone`;
  }, [title]);
  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand">
          Whetstone
        </Link>
        <nav aria-label="Main">
          <ul>
            {nav.map((n) => (
              <li key={n.to}>
                <Link to={n.to} aria-current={n.match(path) ? 'page' : undefined}>
                  {n.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <button type="button" className="theme-toggle" onClick={toggle} aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}>
          {theme === 'dark' ? '☀ Light' : '☾ Dark'}
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {page}
      </main>
    </div>
  );
}
