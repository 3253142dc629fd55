// The browser side of `whet serve --auth required`: the API key the user
// signed in with, sent as `Authorization: Bearer KEY` on every request to the
// server's API and as `?access_token=KEY` where a header cannot be sent
// (EventSource streams, download links); any 401 signs the user out.
//
// The key is kept in sessionStorage, not localStorage: an API key is a
// long-lived bearer credential (no server session stands between it and the
// API), so it should not outlive the tab, be shared with every other tab of
// the origin, or stay on a shared machine after the browser closes. A reload
// keeps it; a new tab or a browser restart asks again.

export const KEY_STORAGE = 'whet.apiKey';

/** The paths whose requests carry the key: the REST API, the OpenAI-compatible /v1 API and the API description. */
export function needsAuth(path: string): boolean {
  return path.startsWith('/api/') || path.startsWith('/v1/') || path.startsWith('/openapi');
}

export function getKey(): string {
  try {
    return sessionStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return '';
  }
}

export function setKey(key: string) {
  sessionStorage.setItem(KEY_STORAGE, key);
}

export function clearKey() {
  try {
    sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    /* storage unavailable: nothing kept */
  }
}

/** withToken adds ?access_token= to a same-origin API URL when signed in (for EventSource and links). */
export function withToken(url: string): string {
  const key = getKey();
  if (!key) return url;
  const u = new URL(url, window.location.origin);
  if (u.origin !== window.location.origin || !needsAuth(u.pathname)) return url;
  u.searchParams.set('access_token', key);
  return url.startsWith('/') ? u.pathname + u.search + u.hash : u.toString();
}

type Listener = (detail: string) => void;
const listeners = new Set<Listener>();

/** onUnauthorized registers a listener for a 401 from the API; it returns the unsubscribe function. */
export function onUnauthorized(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** unauthorized tells the listeners the server refused the credentials (or asked for some). */
export function unauthorized(detail: string) {
  for (const fn of [...listeners]) fn(detail);
}

async function problemDetail(res: Response): Promise<string> {
  try {
    const b = (await res.clone().json()) as { detail?: unknown; title?: unknown };
    if (typeof b.detail === 'string' && b.detail) return b.detail;
    if (typeof b.title === 'string') return b.title;
  } catch {
    /* not JSON */
  }
  return `HTTP ${res.status}`;
}

/**
 * authFetch wraps a fetch function: requests to this origin's API get the
 * Authorization header (unless they carry one), and a 401 answer is reported
 * to the onUnauthorized listeners (the app then shows the sign-in page).
 */
export function authFetch(inner: typeof fetch): typeof fetch {
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input), window.location.origin);
    if (url.origin !== window.location.origin || !needsAuth(url.pathname)) return inner(input, init);
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    const key = getKey();
    if (key && !headers.has('Authorization')) headers.set('Authorization', `Bearer ${key}`);
    const res = await inner(input, { ...init, headers });
    if (res.status === 401) unauthorized(await problemDetail(res));
    return res;
  };
}

/** installAuthFetch makes window.fetch an authFetch, once; every fetch of the app then carries the key. */
export function installAuthFetch() {
  const w = window as typeof window & { __whetAuthFetch?: boolean };
  if (w.__whetAuthFetch) return;
  w.__whetAuthFetch = true;
  window.fetch = authFetch(window.fetch.bind(window));
}
