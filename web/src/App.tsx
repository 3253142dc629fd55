import { useEffect } from 'react';
import { match, nav } from './routes';
import { Link, useLocation } from './ui/router';
import { useTheme } from './ui/theme';

export function App() {
  const { path } = useLocation();
  const { theme, toggle } = useTheme();
  const found = match(path);
  const title = found?.route.title ?? 'Not found';
  const page = found ? (
    found.route.render(found.params)
  ) : (
    <div className="page">
      <h1>Not found</h1>
      <p>
        No page at <code>{path}</code>. <Link to="/">Go to the editor</Link>.
      </p>
    </div>
  );
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
