import { useEffect } from 'react';
import { match, nav } from './routes';
import { Link, useLocation } from './ui/router';
import { useTheme } from './ui/theme';
import { useAuth } from './auth/auth';
import { SignInPage } from './auth/SignIn';

export function App() {
  const { path } = useLocation();
  const { theme, toggle } = useTheme();
  const auth = useAuth();
  const found = match(path);
  const title = auth.state.kind === 'signed-out' ? 'Sign in' : (found?.route.title ?? 'Not found');
  const page = auth.state.kind === 'checking' ? (
    <p className="page muted">Connecting…</p>
  ) : auth.state.kind === 'signed-out' ? (
    <SignInPage message={auth.state.message} />
  ) : found ? (
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
            {nav.filter((n) => auth.state.kind === 'signed-in' && (auth.canWrite || !n.write)).map((n) => (
              <li key={n.to}>
                <Link to={n.to} aria-current={n.match(path) ? 'page' : undefined}>
                  {n.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        {auth.who && auth.who.method !== 'none' ? (
          <div className="who" data-team={auth.who.team} data-role={auth.who.role}>
            <span title={auth.who.actor ? `signed in as ${auth.who.actor}` : undefined}>
              <span className="sr-only">Signed in to team </span>
              <strong className="who-team">{auth.who.team}</strong> <span className="badge who-role">{auth.who.role}</span>
            </span>
            <button type="button" className="link" onClick={auth.signOut}>
              Sign out
            </button>
          </div>
        ) : null}
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
