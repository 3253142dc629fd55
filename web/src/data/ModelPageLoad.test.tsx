import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act } from 'react';
import { createRoot } from 'react-dom/client';
import type { Model } from '../api';
import { ModelPage } from './ModelPage';
import { runModels } from './modelList';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

// 1,500 runs of a trained adapter and its GGUF export, newest first (more than GET /models pages at most: 1,000).
// The oldest run (job_1) trained from a model of an old run (job_2) by id; job_10..job_19, job_100... contain "job_1".
const RUNS = 1500;
const all: Model[] = [];
for (let run = RUNS; run >= 1; run--)
  for (const gguf of [true, false])
    all.push({
      model_id: `mdl_${run}${gguf ? 'G' : 'T'}`,
      name: `run-${run}/${gguf ? 'ship/gguf' : 'tune/model'}`,
      job_id: `job_${run}`,
      node_id: gguf ? 'ship' : 'tune',
      output: gguf ? 'gguf' : 'model',
      files: gguf ? ['model.gguf'] : ['adapter_config.json', 'adapter_model.safetensors'],
      size: 1000,
      created_at: new Date(Date.UTC(2026, 11, 4) - (RUNS - run) * 60_000).toISOString(),
      meta: { format: gguf ? 'gguf' : 'peft-lora', ...(run === 1 ? { base_model: 'mdl_2T' } : {}) },
    });

let requests: string[] = [];
function serve(url: string): Response {
  const u = new URL(url, 'http://whet');
  requests.push(u.pathname + u.search);
  const json = (v: unknown, status = 200) => new Response(JSON.stringify(v), { status });
  if (u.pathname.startsWith('/api/v1/models/')) {
    const m = all.find((x) => x.model_id === decodeURIComponent(u.pathname.slice('/api/v1/models/'.length)));
    return m ? json(m) : json({ title: 'Not Found' }, 404);
  }
  if (u.pathname !== '/api/v1/models') return json({ title: 'Not Found', detail: 'no such run' }, 404);
  const p = u.searchParams;
  const q = (p.get('q') ?? '').toLowerCase();
  // the API's bounds: limit 1..1000, default 50
  const limit = Math.min(Number(p.get('limit') ?? 50), 1000);
  const offset = Number(p.get('offset') ?? 0);
  const kept = all.filter((m) => !q || [m.name, m.model_id, m.job_id].some((s) => (s ?? '').toLowerCase().includes(q)));
  return json({ models: kept.slice(offset, offset + limit), total: kept.length, limit, offset });
}

// held: GET /api/v1/models/{id} of these ids waits until released (a slow answer)
let held = new Map<string, Promise<void>>();
beforeEach(() => {
  requests = [];
  held = new Map();
  vi.stubGlobal('fetch', async (url: string) => {
    const wait = held.get(new URL(String(url), 'http://whet').pathname);
    if (wait) await wait;
    return serve(String(url));
  });
});
afterEach(() => {
  vi.unstubAllGlobals();
  document.body.innerHTML = '';
});

async function render(id: string) {
  const div = document.createElement('div');
  document.body.appendChild(div);
  act(() => createRoot(div).render(<ModelPage id={id} />));
  await act(async () => {
    for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 0));
  });
  return div;
}

describe('model page: its run’s models and its base model, however many models the server has', () => {
  it('finds the oldest run’s other model by GET /models?q=<job_id> and names its base model by GET /models/{id}', async () => {
    const div = await render('mdl_1T');
    const lists = requests.filter((r) => r.startsWith('/api/v1/models?'));
    expect(lists).toEqual(['/api/v1/models?q=job_1&limit=1000', '/api/v1/models?q=job_1&limit=1000&offset=1000']);
    expect(requests).toContain('/api/v1/models/mdl_1T');
    expect(requests).toContain('/api/v1/models/mdl_2T');
    // the run's GGUF, not job_10's or job_100's
    expect([...div.querySelectorAll('.model-siblings [data-model-id]')].map((li) => li.getAttribute('data-model-id'))).toEqual(['mdl_1G']);
    const base = div.querySelector('[data-lineage="base"] a');
    expect(base?.getAttribute('href')).toBe('/models/mdl_2T');
    expect(base?.textContent).toBe('run-2/tune/model');
  });

  it('shows a placeholder, never the raw id, for the base model until its name comes; the id when it never does', async () => {
    let release = () => {};
    held.set('/api/v1/models/mdl_2T', new Promise<void>((r) => (release = r)));
    const div = await render('mdl_1T');
    expect(div.querySelector('h1')?.textContent).toBe('run-1/tune/model');
    const base = () => div.querySelector('[data-lineage="base"] a')!;
    expect([base().textContent, base().getAttribute('href')]).toEqual(['loading name…', '/models/mdl_2T']);
    await act(async () => {
      release();
      for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 0));
    });
    expect(base().textContent).toBe('run-2/tune/model');
    // a base this server does not show (gone, another team's): its id once the answer is a 404
    const gone = all.findIndex((m) => m.model_id === 'mdl_2T');
    const [saved] = all.splice(gone, 1);
    try {
      const div2 = await render('mdl_1T');
      const a = div2.querySelector('[data-lineage="base"] a')!;
      expect([a.textContent, a.getAttribute('href')]).toEqual(['mdl_2T', '/models/mdl_2T']);
    } finally {
      all.splice(gone, 0, saved);
    }
  });

  it('asks for no list of models when the model has no run', async () => {
    all.push({ model_id: 'mdl_loose', name: 'uploaded', output: 'model', files: [], created_at: '2026-01-01T00:00:00Z' });
    try {
      const div = await render('mdl_loose');
      expect(div.querySelector('h1')?.textContent).toBe('uploaded');
      expect(requests).toEqual(['/api/v1/models/mdl_loose']);
    } finally {
      all.pop();
    }
  });

  it('reads every page of a run search that matches more than a page, keeping the run’s own', async () => {
    // q=job_1 keeps job_1, job_10..19, job_100..199, job_1000..1500: 612 runs, 1,224 models
    const got = await runModels('job_1');
    expect(got.map((m) => m.model_id)).toEqual(['mdl_1G', 'mdl_1T']);
    expect(requests).toEqual(['/api/v1/models?q=job_1&limit=1000', '/api/v1/models?q=job_1&limit=1000&offset=1000']);
  });
});
