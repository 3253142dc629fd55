import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act } from 'react';
import { createRoot } from 'react-dom/client';
import type { Dataset } from '../api';
import { DATASET_FORMATS, DATASET_PAGE, DatasetsPage } from './DatasetsPage';
import { withFilter, withParam } from './pagedList';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

// 130 datasets (more than a page), newest first as GET /datasets answers, of three detected formats.
const N = 130;
const FORMATS = ['alpaca', 'sharegpt', 'completion'];
const all: Dataset[] = Array.from({ length: N }, (_, i) => ({
  dataset_id: `ds_${String(N - i).padStart(4, '0')}`,
  name: `${i % 5 === 0 ? 'Dolly' : 'alpaca'}-${i}.jsonl`,
  size: 100 + i,
  format: 'jsonl',
  version: `sha256:${String(i).padStart(64, '0')}`,
  created_at: new Date(Date.UTC(2026, 11, 4) - i * 60_000).toISOString(),
  summary: { rows: i + 1, format: FORMATS[i % 3], columns: ['text'] },
}));

// The server: GET /datasets with q, format, limit and offset as the API reads them (q: name or id; format: the summary's).
let served: Dataset[] = all;
let requests: URLSearchParams[] = [];
function serve(url: string): Response {
  const u = new URL(url, 'http://whet');
  if (u.pathname !== '/api/v1/datasets') return new Response('{"title":"Not Found"}', { status: 404 });
  const p = u.searchParams;
  requests.push(p);
  const q = (p.get('q') ?? '').toLowerCase();
  const formats = (p.get('format') ?? '').split(',').filter(Boolean);
  const limit = Number(p.get('limit') ?? 50);
  const offset = Number(p.get('offset') ?? 0);
  const kept = served.filter(
    (d) => (!q || [d.name, d.dataset_id].some((s) => (s ?? '').toLowerCase().includes(q))) && (!formats.length || formats.includes(d.summary?.format ?? '')),
  );
  return new Response(JSON.stringify({ datasets: kept.slice(offset, offset + limit), total: kept.length, limit, offset }));
}

beforeEach(() => {
  served = all;
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
  act(() => createRoot(div).render(<DatasetsPage />));
  await settle();
  return div;
}

const shownIDs = (div: HTMLElement) => [...div.querySelectorAll('tr[data-dataset-id]')].map((tr) => tr.getAttribute('data-dataset-id')!);
const button = (div: HTMLElement, text: string) => [...div.querySelectorAll('button')].find((b) => b.textContent?.startsWith(text));
const status = (div: HTMLElement) => div.querySelector('[role="status"]')?.textContent;
const ids = (f: (d: Dataset) => boolean) => all.filter(f).map((d) => d.dataset_id);

function setInput(el: HTMLInputElement | HTMLSelectElement, value: string) {
  const proto = el instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype;
  Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(el, value);
  el.dispatchEvent(new Event(el instanceof HTMLSelectElement ? 'change' : 'input', { bubbles: true }));
}

const SLOW = 20_000; // the page renders 100 rows a few times; a shared machine is slow

describe('datasets list: every dataset, a page at a time', () => {
  it(
    'shows the first page, then the older datasets on “Show more”, until every dataset is shown',
    async () => {
      const div = await renderAt('/datasets');
      expect(shownIDs(div)).toEqual(all.slice(0, DATASET_PAGE).map((d) => d.dataset_id));
      expect(status(div)).toBe(`${DATASET_PAGE} of ${N} datasets`);
      expect(button(div, 'Show more')?.textContent).toBe(`Show more (${N - DATASET_PAGE} older)`);
      act(() => button(div, 'Show more')!.click());
      await settle();
      expect(shownIDs(div)).toEqual(all.map((d) => d.dataset_id));
      expect(status(div)).toBe(`${N} of ${N} datasets`);
      expect(button(div, 'Show more')).toBeUndefined();
      expect(requests.map((p) => [p.get('limit'), p.get('offset')])).toEqual([
        [String(DATASET_PAGE), null],
        [String(DATASET_PAGE), String(DATASET_PAGE)],
      ]);
    },
    SLOW,
  );

  it(
    'filters on the server by search (from the URL and the box) and detected format, says when nothing matches, and clears the filters',
    async () => {
      const div = await renderAt('/datasets?format=messages%2Csharegpt');
      const formatSelect = div.querySelector('select') as HTMLSelectElement;
      expect(formatSelect.value).toBe('messages,sharegpt');
      expect(requests.at(-1)?.get('format')).toBe('messages,sharegpt');
      const chats = ids((d) => d.summary?.format === 'sharegpt');
      expect(shownIDs(div)).toEqual(chats);
      expect(status(div)).toBe(`${chats.length} of ${chats.length} matching datasets`);
      expect(button(div, 'Show more')).toBeUndefined();

      const search = div.querySelector('input[type="search"]') as HTMLInputElement;
      act(() => setInput(search, 'DOLLY'));
      expect(location.search).toBe('?format=messages%2Csharegpt&q=DOLLY');
      await settle(300); // the search waits for typing to stop
      expect(requests.at(-1)?.get('q')).toBe('DOLLY');
      const dollyChats = ids((d) => d.summary?.format === 'sharegpt' && d.name!.startsWith('Dolly'));
      expect(dollyChats.length).toBeGreaterThan(0);
      expect(shownIDs(div)).toEqual(dollyChats);

      act(() => setInput(formatSelect, 'kto'));
      await settle(300);
      expect(requests.at(-1)?.get('format')).toBe('kto');
      expect(shownIDs(div)).toEqual([]);
      expect(div.textContent).toContain('No datasets of kto records matching “DOLLY”.');
      expect(div.textContent).not.toContain('No datasets yet');

      act(() => button(div, 'Clear the filters')!.click());
      await settle(300);
      expect(location.search).toBe('');
      expect(search.value).toBe('');
      expect(formatSelect.value).toBe('');
      expect(shownIDs(div)).toEqual(all.slice(0, DATASET_PAGE).map((d) => d.dataset_id));
    },
    SLOW,
  );

  it('says there are no datasets yet when the server has none and nothing filters', async () => {
    served = [];
    const div = await renderAt('/datasets');
    expect(div.textContent).toContain('No datasets yet.');
    expect(status(div)).toBeUndefined();
    expect(button(div, 'Show more')).toBeUndefined();
  });

  it('offers a format from the URL it does not know, and keeps the other params when one changes', () => {
    expect(withFilter(DATASET_FORMATS, 'alpaca')).toBe(DATASET_FORMATS);
    expect(withFilter(DATASET_FORMATS, 'raw').at(-1)).toEqual({ value: 'raw', label: 'raw' });
    expect(withParam('/datasets', '?q=a&format=kto', 'format', '')).toBe('/datasets?q=a');
    expect(withParam('/datasets', '', 'q', 'x y')).toBe('/datasets?q=x+y');
  });
});
