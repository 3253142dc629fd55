// The sign-in page: shown when the server requires credentials. It takes an
// API key (or a JWT the server accepts), checks it with GET /whoami, and keeps
// it for this tab only (see session.ts).

import { useEffect, useRef, useState } from 'react';
import { useAuth } from './auth';

export function SignInPage({ message }: { message: string }) {
  const { signIn } = useAuth();
  const [key, setKeyText] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <div className="page sign-in">
      <h1>Sign in</h1>
      <p>This Whetstone server requires an API key.</p>
      {message ? (
        <p className="banner info" role="status">
          {message}
        </p>
      ) : null}
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError('');
          try {
            await signIn(key);
          } catch (err) {
            setError((err as Error).message);
            input.current?.select();
          } finally {
            setBusy(false);
          }
        }}
      >
        <div className="field">
          <label htmlFor="api-key">API key</label>
          <input
            id="api-key"
            ref={input}
            type="password"
            name="api-key"
            autoComplete="off"
            spellCheck={false}
            placeholder="whet_…"
            value={key}
            onChange={(e) => setKeyText(e.target.value)}
            aria-invalid={error ? true : undefined}
            aria-describedby={`api-key-help${error ? ' api-key-error' : ''}`}
          />
          <p id="api-key-help" className="help">
            An admin creates one with <code>whet keys create --team TEAM --role member</code> (or <code>viewer</code> to read only). The key
            is kept in this tab until you sign out or close it.
          </p>
          {error ? (
            <p id="api-key-error" className="error-text" role="alert">
              {error}
            </p>
          ) : null}
        </div>
        <button type="submit" className="primary" disabled={busy || !key.trim()}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
