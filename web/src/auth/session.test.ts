import { afterEach, describe, expect, it } from 'vitest';
import { authFetch, clearKey, getKey, onUnauthorized, setKey, withToken } from './session';
import { canWrite } from './auth';

type Seen = { url: string; auth: string | null };

function recorder(status = 200, body = '{}') {
  const seen: Seen[] = [];
  const inner = (async (input: RequestInfo | URL, init?: RequestInit) => {
    seen.push({ url: String(input instanceof Request ? input.url : input), auth: new Headers(init?.headers).get('Authorization') });
    return new Response(body, { status, headers: { 'Content-Type': 'application/problem+json' } });
  }) as typeof fetch;
  return { seen, f: authFetch(inner) };
}

afterEach(() => clearKey());

describe('authFetch', () => {
  const cases: { name: string; url: string; key: string; want: string | null }[] = [
    { name: 'API path, signed in', url: '/api/v1/jobs', key: 'whet_abc', want: 'Bearer whet_abc' },
    { name: '/v1 path, signed in', url: '/v1/models', key: 'whet_abc', want: 'Bearer whet_abc' },
    { name: 'openapi, signed in', url: '/openapi.json', key: 'whet_abc', want: 'Bearer whet_abc' },
    { name: 'absolute same-origin URL', url: `${window.location.origin}/api/v1/jobs`, key: 'whet_abc', want: 'Bearer whet_abc' },
    { name: 'not signed in', url: '/api/v1/jobs', key: '', want: null },
    { name: 'static file', url: '/assets/index.js', key: 'whet_abc', want: null },
    { name: 'another origin never gets the key', url: 'https://example.com/api/v1/jobs', key: 'whet_abc', want: null },
  ];
  for (const c of cases)
    it(c.name, async () => {
      if (c.key) setKey(c.key);
      const { seen, f } = recorder();
      await f(c.url);
      expect(seen[0].auth).toBe(c.want);
    });

  it('keeps an Authorization the caller set', async () => {
    setKey('whet_stored');
    const { seen, f } = recorder();
    await f('/api/v1/whoami', { headers: { Authorization: 'Bearer whet_typed' } });
    expect(seen[0].auth).toBe('Bearer whet_typed');
  });

  it('reports a 401 with the problem detail', async () => {
    setKey('whet_revoked');
    const got: string[] = [];
    const off = onUnauthorized((d) => got.push(d));
    const { f } = recorder(401, JSON.stringify({ title: 'Unauthorized', status: 401, detail: 'unauthenticated: API key key_1 was revoked' }));
    const res = await f('/api/v1/jobs');
    off();
    expect(res.status).toBe(401);
    expect(got).toEqual(['unauthenticated: API key key_1 was revoked']);
  });

  it('does not report other errors', async () => {
    const got: string[] = [];
    const off = onUnauthorized((d) => got.push(d));
    await recorder(403).f('/api/v1/jobs', { method: 'POST' });
    await recorder(404).f('/api/v1/jobs/x');
    off();
    expect(got).toEqual([]);
  });
});

describe('withToken', () => {
  it('adds access_token to API URLs when signed in, keeping the query', () => {
    expect(withToken('/api/v1/logs/stream/j1?after=5')).toBe('/api/v1/logs/stream/j1?after=5');
    setKey('whet_a+b');
    expect(getKey()).toBe('whet_a+b');
    expect(withToken('/api/v1/logs/stream/j1?after=5')).toBe('/api/v1/logs/stream/j1?after=5&access_token=whet_a%2Bb');
    expect(withToken('/api/v1/models/m1/download')).toBe('/api/v1/models/m1/download?access_token=whet_a%2Bb');
    expect(withToken('/runs/j1')).toBe('/runs/j1');
    expect(withToken('https://example.com/api/v1/x')).toBe('https://example.com/api/v1/x');
  });
});

describe('canWrite', () => {
  it('admins and members write; viewers read only; auth off writes', () => {
    const id = (role: string) => ({ actor: 'key_1', team: 't', role, method: 'key' });
    expect(canWrite(id('admin'))).toBe(true);
    expect(canWrite(id('member'))).toBe(true);
    expect(canWrite(id('viewer'))).toBe(false);
    expect(canWrite(null)).toBe(true);
  });
});
