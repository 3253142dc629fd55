// Who the user is: asked of GET /api/v1/whoami when the app starts. With auth
// off the server answers for everyone (method "none") and the app shows no
// sign-in; with auth on it answers 401 until the user signs in with an API
// key, and any later 401 (a key revoked or expired) returns to the sign-in page.

import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react';
import { API, parseProblem, Problem } from '../api';
import { clearKey, getKey, onUnauthorized, setKey } from './session';

export interface Identity {
  /** the key id ("key_...") or the JWT subject; "" with auth off. */
  actor: string;
  team: string;
  role: 'admin' | 'member' | 'viewer' | string;
  /** "key", "jwt", or "none" when the server has auth off. */
  method: string;
}

export type AuthState =
  | { kind: 'checking' }
  | { kind: 'signed-out'; message: string }
  | { kind: 'signed-in'; who: Identity | null };

interface AuthValue {
  state: AuthState;
  /** the signed-in identity; null with auth off or when the server could not say. */
  who: Identity | null;
  /** whether the user may change things (run, cancel, upload): admins and members; viewers read only. */
  canWrite: boolean;
  signIn: (key: string) => Promise<void>;
  signOut: () => void;
}

const Ctx = createContext<AuthValue>({
  state: { kind: 'signed-in', who: null },
  who: null,
  canWrite: true,
  signIn: async () => {},
  signOut: () => {},
});

/** canWrite reports whether an identity may run, cancel, upload or delete (viewers may not). */
export function canWrite(who: Identity | null): boolean {
  return !who || who.role === 'admin' || who.role === 'member';
}

/** whoami asks the server who a key (or no key) is; a Problem on a refusal. */
export async function whoami(key: string): Promise<Identity> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  const res = await fetch(`${API}/whoami`, { headers });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  if (!res.ok) throw parseProblem(res.status, body);
  return body as Identity;
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<AuthState>({ kind: 'checking' });

  useEffect(() => {
    let stop = false;
    whoami(getKey()).then(
      (who) => !stop && setState({ kind: 'signed-in', who }),
      (e) => {
        if (stop) return;
        if (e instanceof Problem && e.status === 401) {
          const had = getKey();
          clearKey();
          setState({ kind: 'signed-out', message: had ? `Your key was not accepted: ${e.detail || e.title}. Sign in again.` : '' });
        } else setState({ kind: 'signed-in', who: null }); // the pages say what is wrong with the server
      },
    );
    return () => {
      stop = true;
    };
  }, []);

  // any 401 from the API (a revoked or expired key) returns to the sign-in page
  useEffect(
    () =>
      onUnauthorized((detail) => {
        const had = getKey();
        clearKey();
        setState((s) =>
          s.kind === 'signed-out' ? s : { kind: 'signed-out', message: had ? `You were signed out: the server answered 401 (${detail}). Sign in again.` : '' },
        );
      }),
    [],
  );

  const signIn = useCallback(async (key: string) => {
    const k = key.trim();
    if (!k) throw new Error('Enter an API key.');
    let who: Identity;
    try {
      who = await whoami(k);
    } catch (e) {
      if (e instanceof Problem && e.status === 401) throw new Error(`That key was not accepted: ${e.detail || e.title}.`);
      if (e instanceof Problem) throw new Error(`The server could not check the key: ${e.status} ${e.detail || e.title}.`);
      throw new Error(`Could not reach the server: ${(e as Error).message}.`);
    }
    setKey(k);
    setState({ kind: 'signed-in', who });
  }, []);

  const signOut = useCallback(() => {
    clearKey();
    setState({ kind: 'signed-out', message: 'Signed out.' });
  }, []);

  const who = state.kind === 'signed-in' ? state.who : null;
  return <Ctx.Provider value={{ state, who, canWrite: canWrite(who), signIn, signOut }}>{children}</Ctx.Provider>;
}

export const useAuth = () => useContext(Ctx);
