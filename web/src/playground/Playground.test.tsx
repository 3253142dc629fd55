import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act } from 'react';
import { createRoot } from 'react-dom/client';
import type { Model } from '../api';
import { PlaygroundPage } from './Playground';
import { choices, PICK_PAGE, SEARCH_DELAY } from './ModelPicker';
import type { V1Model } from './v1';
import { fmtNum } from '../ui/format';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

// 1,200 runs, newest first as GET /api/v1/models answers: each exported an adapter and a GGUF (not served by /v1).
const RUNS = 1200;
const T0 = Date.UTC(2026, 11, 4);
const exported: Model[] = Array.from({ length: RUNS * 2 }, (_, i) => {
  const run = Math.floor(i / 2);
  const adapter = i % 2 === 0;
  return {
    model_id: `mdl_${String(RUNS * 2 - i).padStart(5, '0')}`,
    name: `${run === RUNS - 1 ? 'oldest-kids' : `alpaca-${run}`}/ship/${adapter ? 'adapter' : 'gguf'}`,
    job_id: `job_${run}`,
    node_id: 'ship',
    output: adapter ? 'adapter' : 'gguf',
    files: [],
    created_at: new Date(T0 - run * 60_000).toISOString(),
    meta: { format: adapter ? 'adapter' : 'gguf' },
  };
});
const oldest = exported.find((m) => m.job_id === `job_${RUNS - 1}` && m.output === 'adapter')!;
// /v1/models: a base folder, a fine-tuning job's model, and (as the catalogue lists at most some) only the newest exports.
const v1: V1Model[] = [
  { id: 'ft:stories-chat:whetstone:kids:abc123', created: T0 / 1000 - 30, owned_by: 'default' },
  ...exported.filter((m) => m.output === 'adapter').slice(0, 10).map((m) => ({ id: m.model_id, created: Date.parse(m.created_at!) / 1000, owned_by: 'whetstone' })),
  { id: 'stories-chat', created: 0, owned_by: 'system' },
];

let requests: string[] = [];
function serve(url: string): Response {
  const u = new URL(url, 'http://whet');
  requests.push(u.pathname + u.search);
  const json = (v: unknown, status = 200) => new Response(JSON.stringify(v), { status });
  if (u.pathname === '/v1/models') return json({ object: 'list', data: v1 });
  if (u.pathname === '/v1/fine_tuning/jobs') return json({ object: 'list', data: [] });
  if (u.pathname.startsWith('/api/v1/models/')) {
    const m = exported.find((x) => x.model_id === decodeURIComponent(u.pathname.slice('/api/v1/models/'.length)));
    return m ? json(m) : json({ title: 'Not Found' }, 404);
  }
  if (u.pathname !== '/api/v1/models') return json({ title: 'Not Found' }, 404);
  const p = u.searchParams;
  const q = (p.get('q') ?? '').toLowerCase();
  const formats = (p.get('format') ?? '').split(',').filter(Boolean);
  const limit = Number(p.get('limit') ?? 50);
  const offset = Number(p.get('offset') ?? 0);
  const kept = exported.filter(
    (m) => (!q || [m.name, m.model_id, m.job_id].some((s) => (s ?? '').toLowerCase().includes(q))) && (!formats.length || formats.includes(m.meta!.format as string)),
  );
  return json({ models: kept.slice(offset, offset + limit), total: kept.length, limit, offset });
}

beforeEach(() => {
  requests = [];
  vi.stubGlobal('fetch', async (url: string) => serve(String(url)));
});
afterEach(() => {
  vi.unstubAllGlobals();
  document.body.innerHTML = '';
  history.replaceState(null, '', '/');
});

async function settle(ms = 0) {
  await act(async () => {
    if (ms) await new Promise((r) => setTimeout(r, ms));
    for (let i = 0; i < 8; i++) await new Promise((r) => setTimeout(r, 0));
  });
}

async function renderAt(path: string) {
  history.replaceState(null, '', path);
  const div = document.createElement('div');
  document.body.appendChild(div);
  act(() => createRoot(div).render(<PlaygroundPage />));
  await settle();
  return div;
}

function type(el: HTMLInputElement, value: string) {
  Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!.call(el, value);
  el.dispatchEvent(new Event('input', { bubbles: true }));
}

const choiceIDs = (div: HTMLElement) => [...div.querySelectorAll('.pg-choices [data-choice]')].map((c) => c.getAttribute('data-choice')!);
const box = (div: HTMLElement, id: string) => div.querySelector<HTMLInputElement>(`[data-choice="${id}"] input[type="checkbox"]`);
const columns = (div: HTMLElement) => [...div.querySelectorAll('section.pg-column')].map((s) => s.getAttribute('data-model'));
const listRequests = () => requests.filter((r) => r.startsWith('/api/v1/models?')).map((r) => new URLSearchParams(r.split('?')[1]));
const search = (div: HTMLElement) => div.querySelector<HTMLInputElement>('input[type="search"][aria-label="Search fine-tuned models"]')!;

describe('playground model picker: any model of the server, by search', () => {
  it('offers the newest served models first, a page at a time, never GGUF', async () => {
    const div = await renderAt('/playground');
    expect(search(div)).not.toBeNull();
    expect(listRequests().map((p) => Object.fromEntries(p))).toEqual([{ format: 'adapter,merged,peft-lora,hf', limit: String(PICK_PAGE) }]);
    const adapters = exported.filter((m) => m.output === 'adapter');
    // the fine-tuning job's model (30 s old) sorts between the newest export and the next
    expect(choiceIDs(div)).toEqual([adapters[0].model_id, v1[0].id, ...adapters.slice(1, PICK_PAGE).map((m) => m.model_id)]);
    expect(div.querySelector('[data-choice="stories-chat"]')).toBeNull();
    expect(div.querySelector('[role="status"]')?.textContent).toBe(`${PICK_PAGE + 1} models, newest first; ${fmtNum(RUNS - PICK_PAGE)} older exported to load`);
    const more = [...div.querySelectorAll('button')].find((b) => b.textContent?.startsWith('Show more'))!;
    expect(more.textContent).toBe(`Show more (${fmtNum(RUNS - PICK_PAGE)} older)`);
    act(() => more.click());
    await settle();
    expect(listRequests().at(-1)?.get('offset')).toBe(String(PICK_PAGE));
    expect(choiceIDs(div).slice(-PICK_PAGE)).toEqual(adapters.slice(PICK_PAGE, 2 * PICK_PAGE).map((m) => m.model_id));
  });

  it('finds the oldest model through the server (one debounced request), keeps it chosen while the search changes, and answers with it', async () => {
    const div = await renderAt('/playground');
    expect(choiceIDs(div)).not.toContain(oldest.model_id);
    const before = listRequests().length;
    for (const prefix of ['o', 'ol', 'old', 'oldest-k']) act(() => type(search(div), prefix));
    await settle(SEARCH_DELAY + 100);
    const asked = listRequests().slice(before);
    expect(asked.map((p) => Object.fromEntries(p))).toEqual([{ q: 'oldest-k', format: 'adapter,merged,peft-lora,hf', limit: String(PICK_PAGE) }]);
    expect(choiceIDs(div)).toEqual([oldest.model_id]);
    expect(div.querySelector(`[data-choice="${oldest.model_id}"]`)?.textContent).toContain(`oldest-kids/ship/adapter · run ${oldest.job_id}`);

    act(() => box(div, oldest.model_id)!.click());
    expect(columns(div)).toEqual(['stories-chat', oldest.model_id]);

    act(() => type(search(div), 'no such model'));
    await settle(SEARCH_DELAY + 100);
    expect(listRequests().at(-1)?.get('q')).toBe('no such model');
    expect(choiceIDs(div)).toEqual([]);
    expect(div.textContent).toContain('No fine-tuned model matches “no such model”.');
    // still chosen, still named
    expect(box(div, oldest.model_id)?.checked).toBe(true);
    expect(div.querySelector(`.pg-kept [data-choice="${oldest.model_id}"]`)?.textContent).toContain('oldest-kids');
    act(() => box(div, oldest.model_id)!.click());
    expect(columns(div)).toEqual(['stories-chat']);
  });

  it('matches the fine-tuning jobs’ models by the search too', async () => {
    const div = await renderAt('/playground');
    act(() => type(search(div), 'KIDS:abc'));
    await settle(SEARCH_DELAY + 100);
    expect(choiceIDs(div)).toEqual([v1[0].id]);
  });

  it('preselects an old run’s export (GET /models?q=<run>) and an old model named in ?models= (GET /models/{id})', async () => {
    let div = await renderAt(`/playground?run=${oldest.job_id}`);
    expect(requests).toContain(`/api/v1/models?q=${oldest.job_id}&format=adapter%2Cmerged%2Cpeft-lora%2Chf&limit=100`);
    expect(columns(div)).toEqual(['stories-chat', oldest.model_id]);
    act(() => document.body.replaceChildren());

    const gguf = exported.find((m) => m.output === 'gguf' && m.job_id === oldest.job_id)!;
    div = await renderAt(`/playground?models=${oldest.model_id},${gguf.model_id},mdl_nope`);
    expect(requests).toContain(`/api/v1/models/${oldest.model_id}`);
    // a GGUF is not served by /v1, an unknown id is not there
    expect(columns(div)).toEqual(['stories-chat', oldest.model_id]);
  });

  it('merges newest first and leaves jobs’ models older than the loaded page for later', () => {
    const page = exported.filter((m) => m.output === 'adapter').slice(0, 2);
    const ft: V1Model[] = [{ id: 'ft:a', created: 0, owned_by: 'x' }, { id: 'ft:b', created: Date.parse(page[1].created_at!) / 1000 + 1, owned_by: 'x' }, { id: 'base', created: 5, owned_by: 'system' }];
    expect(choices(ft, page, '', false).map((c) => c.id)).toEqual([page[0].model_id, 'ft:b', page[1].model_id]);
    expect(choices(ft, page, '', true).map((c) => c.id)).toEqual([page[0].model_id, 'ft:b', page[1].model_id, 'ft:a']);
    expect(choices(ft, [], 'FT:A', true).map((c) => c.id)).toEqual(['ft:a']);
  });
});
