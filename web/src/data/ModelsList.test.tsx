import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act } from 'react';
import { createRoot } from 'react-dom/client';
import type { Model } from '../api';
import { ModelsPage } from './ModelsPage';
import { appendModels, formatFilters, PAGE } from './modelList';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

// 130 models of 65 runs (more than a page), newest first as GET /models answers: each run a GGUF and a trained adapter.
const N = 130;
const all: Model[] = Array.from({ length: N }, (_, i) => {
  const run = Math.floor(i / 2);
  const gguf = i % 2 === 0;
  return {
    model_id: `mdl_${String(N - i).padStart(4, '0')}`,
    name: `${run % 5 === 0 ? 'Dolly' : 'alpaca'}-${run}/${gguf ? 'ship/gguf' : 'tune/model'}`,
    job_id: `job_${run}`,
    node_id: gguf ? 'ship' : 'tune',
    output: gguf ? 'gguf' : 'model',
    files: [],
    created_at: new Date(Date.UTC(2026, 11, 4) - run * 60_000).toISOString(),
    meta: { format: gguf ? 'gguf' : 'peft-lora' },
  };
});

// The server: GET /models with q, format, limit and offset as the API reads them; GET /jobs knows no runs.
let requests: URLSearchParams[] = [];
function serve(url: string): Response {
  const u = new URL(url, 'http://whet');
  if (u.pathname === '/api/v1/jobs') return new Response(JSON.stringify({ jobs: [], total: 0 }));
  if (u.pathname !== '/api/v1/models') return new Response('{"title":"Not Found"}', { status: 404 });
  const p = u.searchParams;
  requests.push(p);
  const q = (p.get('q') ?? '').toLowerCase();
  const formats = (p.get('format') ?? '').split(',').filter(Boolean);
  const limit = Number(p.get('limit') ?? 50);
  const offset = Number(p.get('offset') ?? 0);
  const kept = all.filter(
    (m) =>
      (!q || [m.name, m.model_id, m.job_id].some((s) => (s ?? '').toLowerCase().includes(q))) &&
      (!formats.length || formats.includes((m.meta?.format as string) || m.output || '')),
  );
  return new Response(JSON.stringify({ models: kept.slice(offset, offset + limit), total: kept.length, limit, offset }));
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
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
  });
}

async function renderAt(path: string) {
  history.replaceState(null, '', path);
  const div = document.createElement('div');
  document.body.appendChild(div);
  act(() => createRoot(div).render(<ModelsPage />));
  await settle();
  return div;
}

const shownIDs = (div: HTMLElement) => [...div.querySelectorAll('a[href^="/models/mdl_"]')].map((a) => a.getAttribute('href')!.slice('/models/'.length));
const moreButton = (div: HTMLElement) => [...div.querySelectorAll('button')].find((b) => b.textContent?.startsWith('Show more'));
const status = (div: HTMLElement) => div.querySelector('[role="status"]')?.textContent;

function setInput(el: HTMLInputElement | HTMLSelectElement, value: string) {
  const proto = el instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype;
  Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(el, value);
  el.dispatchEvent(new Event(el instanceof HTMLSelectElement ? 'change' : 'input', { bubbles: true }));
}

describe('models list: every model, a page at a time', () => {
  it('shows the first page, then the older models on “Show more”, until every model is shown', async () => {
    const div = await renderAt('/models');
    expect(new Set(shownIDs(div)).size).toBe(PAGE);
    expect(status(div)).toBe(`${PAGE} of ${N} models`);
    expect(shownIDs(div)).not.toContain('mdl_0001'); // the oldest
    expect(moreButton(div)?.textContent).toBe(`Show more (${N - PAGE} older)`);
    act(() => moreButton(div)!.click());
    await settle();
    expect(new Set(shownIDs(div))).toEqual(new Set(all.map((m) => m.model_id)));
    expect(status(div)).toBe(`${N} of ${N} models`);
    expect(moreButton(div)).toBeUndefined();
    expect(requests.map((p) => [p.get('limit'), p.get('offset')])).toEqual([
      [String(PAGE), null],
      [String(PAGE), String(PAGE)],
    ]);
  }, 20_000);

  it('filters on the server by search (from the URL and the box) and format, and says when nothing matches', async () => {
    const div = await renderAt('/models?format=gguf');
    const formatSelect = div.querySelector('select') as HTMLSelectElement;
    expect(formatSelect.value).toBe('gguf');
    expect(requests.at(-1)?.get('format')).toBe('gguf');
    const ggufs = all.filter((m) => m.output === 'gguf').map((m) => m.model_id);
    expect(new Set(shownIDs(div))).toEqual(new Set(ggufs));
    expect(status(div)).toBe(`${N / 2} of ${N / 2} matching models`);
    expect(moreButton(div)).toBeUndefined();

    const search = div.querySelector('input[type="search"]') as HTMLInputElement;
    act(() => setInput(search, 'dolly'));
    expect(location.search).toBe('?format=gguf&q=dolly');
    await settle(300); // the search waits for typing to stop
    expect(requests.at(-1)?.get('q')).toBe('dolly');
    const dollyGGUF = all.filter((m) => m.output === 'gguf' && m.name!.startsWith('Dolly')).map((m) => m.model_id);
    expect(dollyGGUF.length).toBeGreaterThan(0);
    expect(new Set(shownIDs(div))).toEqual(new Set(dollyGGUF));

    act(() => setInput(formatSelect, 'adapter,peft-lora'));
    await settle(300);
    expect(requests.at(-1)?.get('format')).toBe('adapter,peft-lora');
    expect(new Set(shownIDs(div))).toEqual(new Set(all.filter((m) => m.output === 'model' && m.name!.startsWith('Dolly')).map((m) => m.model_id)));

    act(() => setInput(search, 'mdl_9999'));
    await settle(300);
    expect(shownIDs(div)).toEqual([]);
    expect(div.textContent).toContain('No models in format PEFT LoRA adapter matching “mdl_9999”.');
    expect(div.textContent).not.toContain('No exported models yet');
  }, 20_000); // pages of 100 rows rendered a few times: slow on a loaded 2-core machine

  it('keeps a loaded page once (a model registered between two pages shifts the offsets), and offers a format from the URL it does not know', () => {
    const a = all.slice(0, 3);
    expect(appendModels(a, all.slice(2, 5)).map((m) => m.model_id)).toEqual(all.slice(0, 5).map((m) => m.model_id));
    expect(formatFilters('').map((f) => f.value)).toContain('adapter,peft-lora');
    expect(formatFilters('hf')).toBe(formatFilters(''));
    expect(formatFilters('model').at(-1)).toEqual({ value: 'model', label: 'model' });
  });
});
