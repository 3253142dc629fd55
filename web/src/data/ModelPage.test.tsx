import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act } from 'react';
import { createRoot } from 'react-dom/client';
import { Problem, type Job, type Model } from '../api';
import { DRAFT_KEY } from '../editor/draft';
import { ModelView, loadFailure } from './ModelPage';
import { basePipeline, metaCharts, modelChain, modelEvaluations, modelFormat, modelMetrics, otherMeta, usableAsBase } from './model';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const version = 'sha256:3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b';
const baseVersion = 'sha256:9c1e0a7d3f2b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5';
const lineage = {
  base_model: 'stories260K',
  base_model_version: baseVersion,
  datasets: [
    { source: '../shared/assets/datasets/llama-factory/alpaca_en_demo.json', name: 'alpaca_en_demo.json', version },
    { dataset_id: 'ds_01up', name: 'chat.jsonl', version },
  ],
};
const fileMeta = (files: string[]) => files.map((f, i) => ({ path: f, size: 1000 * (i + 1), sha256: `${i}`.repeat(64) }));

// What GET /models answers for a run of the shared example: the trained model and the export's merged, adapter and GGUF folders.
const trained: Model = {
  model_id: 'mdl_T1',
  name: 'stories-lora/tune/model',
  job_id: 'job_1',
  node_id: 'tune',
  output: 'model',
  uri: 'jobs/job_1/tune/model/',
  files: ['adapter_config.json', 'adapter_model.safetensors', 'history.json'],
  size: 6000,
  created_at: '2026-12-04T15:26:58Z',
  lineage,
  meta: {
    base_model: 'stories260K',
    method: 'lora',
    format: 'peft-lora',
    steps: 112,
    final_loss: 2.3456,
    final_val_loss: 2.5,
    initial_val_loss: 4.1,
    trainable_params: 36864,
    train_seconds: 12.5,
    history: 'history.json',
    device: 'cpu',
    hyperparameters: { learning_rate: 0.003, epochs: 1, lora: { rank: 8, alpha: 16 } },
    lora: { rank: 8, alpha: 16, dropout: 0, targets: 'all-linear' },
    tokenizer: '/tmp/whet-e2e-abc/work/job_1/prep/tokenizer',
    files: fileMeta(['adapter_config.json', 'adapter_model.safetensors', 'history.json']),
  },
};
const exportMeta = (format: string, files: string[], extra: Record<string, unknown> = {}) => ({
  format,
  base_model: 'stories260K',
  method: 'lora',
  metrics: { final_loss: 2.3456, steps: 112, final_val_loss: 2.5 },
  files: fileMeta(files),
  size: 3000,
  arch: 'llama',
  template: 'alpaca',
  sha256: 'ab'.repeat(32),
  note: 'merged from /tmp/whet-e2e-abc/blobs/jobs/job_1/tune/model/ on the server',
  ...extra,
});
const exp = (id: string, output: string, files: string[], extra: Record<string, unknown> = {}): Model => ({
  model_id: id,
  name: `stories-lora/ship/${output}`,
  job_id: 'job_1',
  node_id: 'ship',
  output,
  uri: `jobs/job_1/ship/${output}/`,
  files,
  size: 3000,
  created_at: '2026-12-04T15:27:30Z',
  lineage,
  meta: exportMeta(output, files, extra),
});
const merged = exp('mdl_M1', 'merged', ['config.json', 'model.safetensors', 'tokenizer.model', 'README.md'], { dtype: 'f32' });
const adapter = exp('mdl_A1', 'adapter', ['adapter_config.json', 'adapter_model.safetensors', 'README.md']);
const gguf = exp('mdl_G1', 'gguf', ['Modelfile', 'stories260K-f16.gguf', 'stories260K-q8_0.gguf', 'README.md'], {
  gguf_types: ['f16', 'q8_0'],
  checks: [
    { file: '/tmp/whet-e2e-abc/work/job_1/ship/gguf/stories260K-f16.gguf', type: 'f16', greedy_agreement: 1, max_logprob_gap: 0.0012, passed: true, positions: 60 },
    { file: 'stories260K-q8_0.gguf', type: 'q8_0', greedy_agreement: 0.95, max_logprob_gap: 0.31, passed: true, positions: 60 },
  ],
});
const run = [adapter, merged, gguf, trained];

const job: Job = {
  job_id: 'job_1',
  name: 'stories-lora',
  status: 'succeeded',
  created_at: '2026-12-04T15:26:45Z',
  spec: {
    name: 'stories-lora',
    nodes: [
      { id: 'data', agent: 'dataset', params: { source: '../shared/assets/datasets/llama-factory/alpaca_en_demo.json' } },
      { id: 'prep', agent: 'preprocess', params: { tokenizer: '../shared/assets/models/stories260K' } },
      { id: 'tune', agent: 'train', params: { base_model: '../shared/assets/models/stories260K', method: 'lora', lora: { rank: 8 } } },
      { id: 'again', agent: 'train', params: { method: 'lora' } },
      { id: 'score', agent: 'evaluate', params: {} },
      { id: 'versus', agent: 'compare', params: {} },
      { id: 'ship', agent: 'export', params: { formats: ['adapter', 'merged', 'gguf'] } },
    ],
    edges: [
      { from: 'data', to: 'prep' },
      { from: 'prep', to: 'tune' },
      { from: 'tune', to: 'again' },
      { from: 'prep', to: 'again' },
      { from: 'tune', to: 'score' },
      { from: 'score', to: 'versus' },
      { from: 'tune', to: 'ship' },
    ],
  },
  nodes: [
    { id: 'tune', agent: 'train', status: 'succeeded', outputs: [{ type: 'model', name: 'model', meta: { final_loss: 2.3456 } }] },
    {
      id: 'score',
      agent: 'evaluate',
      status: 'succeeded',
      outputs: [{ type: 'report', name: 'evaluation', meta: { kind: 'evaluation', model: 'blob:jobs/job_1/tune/model/', metrics: { loss: 2.51, perplexity: 12.3, rouge_l: 0.21 } } }],
    },
    {
      id: 'other',
      agent: 'evaluate',
      status: 'succeeded',
      outputs: [{ type: 'report', name: 'evaluation', meta: { kind: 'evaluation', model: 'blob:jobs/job_1/again/model/', metrics: { loss: 9 } } }],
    },
    {
      id: 'versus',
      agent: 'compare',
      status: 'succeeded',
      outputs: [{ type: 'report', name: 'comparison', meta: { kind: 'comparison', primary_metric: 'rouge_l', improved: true, metrics: { base_rouge_l: 0.1, tuned_rouge_l: 0.21 } } }],
    },
  ],
};

function render(el: React.ReactElement) {
  const div = document.createElement('div');
  document.body.appendChild(div);
  act(() => createRoot(div).render(el));
  return div;
}

// The server, for what the page fetches by itself: a trained model's history.json; anything else is a 404.
const historyRows = [
  { step: 1, loss: 4.2, learning_rate: 0.001 },
  { step: 2, loss: 3.1, val_loss: 3.3, learning_rate: 0.003 },
  { step: 3, loss: 2.6, val_loss: 2.9, learning_rate: 0.002 },
];
beforeEach(() => {
  vi.stubGlobal('fetch', async (url: string) =>
    String(url) === '/api/v1/models/mdl_T1/download?file=history.json' ? new Response(JSON.stringify(historyRows)) : new Response('{"title":"Not Found"}', { status: 404 }),
  );
});
afterEach(() => {
  vi.unstubAllGlobals();
  document.body.innerHTML = '';
  localStorage.clear();
});

async function settle() {
  await act(async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
  });
}

describe('model page: what the model is', () => {
  it('names the format, and says which models a train node can start from', () => {
    expect([trained, adapter, merged, gguf].map((m) => modelFormat(m).format)).toEqual(['peft-lora', 'adapter', 'merged', 'gguf']);
    expect(modelFormat(gguf)).toEqual({ format: 'gguf', label: 'GGUF (llama.cpp)', ollama: true });
    expect(modelFormat({ model_id: 'mdl_x', output: 'weird' }).label).toBe('weird');
    expect([trained, adapter, merged, gguf].map(usableAsBase)).toEqual([false, false, true, false]);
    expect(usableAsBase({ model_id: 'mdl_f', files: ['config.json', 'model.safetensors', 'history.json'], meta: { format: 'hf' } })).toBe(true);
  });

  it('lists the training facts first, then the other numbers of meta.metrics', () => {
    expect(modelMetrics(trained).map((x) => x.key)).toEqual(['final_loss', 'final_val_loss', 'initial_val_loss', 'steps', 'trainable_params', 'train_seconds']);
    const withEval = { ...merged, meta: { ...merged.meta, metrics: { steps: 112, final_loss: 2.3456, rouge_l: 0.21, note: 'x' } } };
    expect(modelMetrics(withEval)).toEqual([
      { key: 'final_loss', value: 2.3456 },
      { key: 'steps', value: 112 },
      { key: 'rouge_l', value: 0.21 },
    ]);
    expect(modelMetrics({ model_id: 'mdl_x' })).toEqual([]);
  });

  it('charts the series a model’s metadata carries, and nothing else', () => {
    const m: Model = {
      model_id: 'mdl_s',
      meta: {
        val_curve: [{ step: 10, val_loss: 3 }, { step: 20, val_loss: 2.5, val_acc: 0.4 }, { step: 30, val_loss: 2.2, val_acc: 0.5 }],
        metrics: { rewards: [0.1, 0.3, 0.2] },
        gguf_types: ['f16'],
        files: fileMeta(['a', 'b']),
        one: [1],
      },
    };
    expect(metaCharts(m)).toEqual([
      {
        title: 'val curve',
        series: [
          { name: 'val_loss', points: [[10, 3], [20, 2.5], [30, 2.2]] },
          { name: 'val_acc', points: [[20, 0.4], [30, 0.5]] },
        ],
      },
      { title: 'rewards', series: [{ name: 'rewards', points: [[1, 0.1], [2, 0.3], [3, 0.2]] }] },
    ]);
    expect(metaCharts(trained)).toEqual([]);
    // what the page shows elsewhere is not repeated as metadata, and paths are cut
    const rest = Object.fromEntries(otherMeta(trained));
    expect(Object.keys(rest).sort()).toEqual(['device', 'lora', 'method', 'tokenizer']);
    expect(rest.tokenizer).toBe('tokenizer');
  });
});

describe('model page: lineage chain', () => {
  const chained: Model = { model_id: 'mdl_C3', name: 'again/tune/model', job_id: 'job_3', lineage: { base_model: 'mdl_M1', datasets: [] } };
  // as GET /models/{id} writes lineage.chain: oldest first, down to the model's own base
  const root = { base_model: 'stories260K', version: baseVersion };
  const m1 = { model_id: 'mdl_M1', name: 'stories-lora/ship/merged', job_id: 'job_1', version, datasets: lineage.datasets, created_at: '2026-12-04T15:27:30Z' };
  const m2 = { model_id: 'mdl_M2', name: 'more/ship/merged', job_id: 'job_2', created_at: '2026-12-04T16:00:00Z' };

  it('is absent when the API gives none, or only the base folder', () => {
    expect(modelChain(trained)).toEqual([]);
    expect(modelChain({ ...trained, lineage: { ...lineage, chain: [root] } })).toEqual([]);
    expect(modelChain({ ...chained, chain: [] })).toEqual([]);
    expect(modelChain({ ...chained, chain: 'x' })).toEqual([]);
  });

  it('reads the chain root first or nearest first, ending with the model itself', () => {
    const want = [
      { label: 'stories260K', version: baseVersion },
      { id: 'mdl_M1', label: 'stories-lora/ship/merged', job: 'job_1', version, datasets: ['alpaca_en_demo.json', 'chat.jsonl'] },
      { id: 'mdl_C3', label: 'again/tune/model', self: true },
    ];
    expect(modelChain({ ...chained, lineage: { ...chained.lineage, chain: [root, m1] } })).toEqual(want);
    expect(modelChain({ ...chained, lineage: { ...chained.lineage, chain: [m1, root] } })).toEqual(want);
    // at the top level, with the model itself listed, and plain ids
    expect(modelChain({ ...chained, chain: [chained, m1, root] })).toEqual(want);
    expect(modelChain({ ...chained, chain: ['mdl_M1', '/work/shared/assets/models/stories260K'] }).map((l) => l.label)).toEqual(['stories260K', 'mdl_M1', 'again/tune/model']);
    // two models deep, nearest first by the parent, or by creation time without one
    const deep = { ...chained, lineage: { base_model: 'mdl_M2', datasets: [] } };
    expect(modelChain({ ...deep, chain: [m2, m1, root] }).map((l) => l.id ?? l.label)).toEqual(['stories260K', 'mdl_M1', 'mdl_M2', 'mdl_C3']);
    expect(modelChain({ ...deep, lineage: null, chain: [m2, m1] }).map((l) => l.id)).toEqual(['mdl_M1', 'mdl_M2', 'mdl_C3']);
    expect(modelChain({ ...deep, lineage: null, chain: [m1, m2] }).map((l) => l.id)).toEqual(['mdl_M1', 'mdl_M2', 'mdl_C3']);
  });
});

describe('model page: evaluations and building on it', () => {
  it('takes the run’s evaluation of this model or of the model it was exported from, with the run’s headline', () => {
    const e = modelEvaluations(merged, job, trained);
    expect(e.evaluations).toEqual([
      {
        node: 'score',
        of: 'tune/model',
        own: false,
        metrics: [
          { key: 'loss', value: 2.51 },
          { key: 'perplexity', value: 12.3 },
          { key: 'rouge_l', value: 0.21 },
        ],
      },
    ]);
    expect(e.headline?.text).toBe('tuned beats base: rouge_l 0.1 → 0.21 (+110 %)');
    expect(modelEvaluations(trained, job).evaluations.map((x) => [x.node, x.own])).toEqual([['score', true]]);
    expect(modelEvaluations(gguf, job)).toEqual({ evaluations: [] });
    expect(modelEvaluations(merged, null, trained)).toEqual({ evaluations: [] });
  });

  it('builds its run’s pipeline trained from the model, or a small one without the run', () => {
    const p = basePipeline(merged, job);
    expect(p.name).toBe('stories-lora-from-m1');
    expect(p.nodes.map((n) => [n.id, n.params?.base_model])).toEqual([
      ['data', undefined],
      ['prep', undefined],
      ['tune', 'mdl_M1'],
      // fed by tune: it starts from tune's model, as before
      ['again', undefined],
      ['score', undefined],
      ['versus', undefined],
      ['ship', undefined],
    ]);
    expect(p.nodes[2].params).toEqual({ base_model: 'mdl_M1', method: 'lora', lora: { rank: 8 } });
    expect(p.edges).toEqual(job.spec!.edges);
    expect(job.spec!.nodes[2].params!.base_model).toBe('../shared/assets/models/stories260K');
    const small = basePipeline(merged);
    expect(small.nodes.map((n) => n.agent)).toEqual(['dataset', 'preprocess', 'train', 'export']);
    expect(small.nodes[0].params).toEqual({ source: 'ds_01up' });
    expect(small.nodes[2].params).toEqual({ base_model: 'mdl_M1', method: 'lora' });
    expect(small.edges.map((e) => `${e.from}>${e.to}`)).toEqual(['data>prep', 'prep>tune', 'tune>export']);
  });

  it('says not found for a 404 and the error otherwise', () => {
    expect(loadFailure('mdl_nope', new Problem(404, 'Not Found', 'model mdl_nope: not found', []))).toEqual({
      notFound: true,
      text: 'There is no model mdl_nope on this server, or it belongs to another team.',
    });
    expect(loadFailure('mdl_x', new Error('read /srv/whet/db.sqlite: disk I/O error'))).toEqual({ notFound: false, text: 'Could not load model mdl_x: read db.sqlite: disk I/O error' });
  });
});

describe('model page: rendering', () => {
  it('shows the facts, lineage, metrics, evaluation, files and settings of an export, without a server path', async () => {
    const div = render(<ModelView m={merged} job={job} runModels={run} />);
    await settle();
    const text = div.textContent!;
    for (const p of ['/work', '/tmp', '/srv', '../shared', 'blob:', 'jobs/job_1/ship']) expect(text).not.toContain(p);
    const fact = (k: string) => div.querySelector(`[data-fact="${k}"]`)!;
    expect(div.querySelector('h1')!.textContent).toBe('stories-lora/ship/merged');
    expect(fact('id').textContent).toContain('mdl_M1');
    expect(fact('format').getAttribute('data-format')).toBe('merged');
    expect(fact('size').textContent).toBe('2.9 KiB in 4 files');
    expect(fact('run').textContent).toBe('output merged of node ship (export) in run stories-lora succeeded');
    expect(fact('run').querySelector('a')!.getAttribute('href')).toBe('/runs/job_1');
    // lineage: base with its version, datasets linked when uploaded, the trained model it came from
    const lin = (k: string) => div.querySelector(`[data-lineage="${k}"]`)!;
    expect(lin('base').textContent).toBe(`stories260K @${baseVersion.slice(7, 19)}`);
    expect([...lin('datasets').querySelectorAll('a')].map((a) => [a.textContent, a.getAttribute('href')])).toEqual([['chat.jsonl', '/datasets/ds_01up']]);
    expect(lin('datasets').textContent).toContain('alpaca_en_demo.json');
    expect(lin('parent').querySelector('a')!.getAttribute('href')).toBe('/models/mdl_T1');
    expect(div.querySelector('.model-chain')).toBeNull();
    // metrics from meta.metrics, the trained model's curve, the run's evaluation with its headline
    expect([...div.querySelectorAll('.model-metrics [data-metric]')].map((d) => d.getAttribute('data-metric'))).toEqual(['final_loss', 'final_val_loss', 'steps']);
    expect(div.querySelector('.model-history h3')!.textContent).toBe('Training curve of tune/model, the model it was exported from');
    const loss = div.querySelector('.model-history figure[data-chart="Loss"]')!;
    expect([...loss.querySelectorAll('polyline[data-series]')].map((l) => l.getAttribute('data-series'))).toEqual(['loss', 'val_loss']);
    expect(div.querySelector('[data-eval-node="score"]')!.textContent).toContain('evaluated tune/model, the model this one was exported from');
    expect(div.querySelector('[data-headline]')!.getAttribute('data-headline')).toBe('better');
    // files: each a download with its size; the folder as tar
    const rows = [...div.querySelectorAll('.model-files tbody tr')];
    expect(rows.map((r) => r.getAttribute('data-file'))).toEqual(['config.json', 'model.safetensors', 'tokenizer.model', 'README.md']);
    expect(rows[1].querySelector('a')!.getAttribute('href')).toBe('/api/v1/models/mdl_M1/download?file=model.safetensors');
    expect(rows[1].textContent).toContain('2.0 KiB');
    expect(div.querySelector('.model-files-panel a.download-all')!.getAttribute('href')).toBe('/api/v1/models/mdl_M1/download');
    // its siblings, linked
    expect([...div.querySelectorAll('.model-siblings a')].map((a) => a.getAttribute('href'))).toEqual(['/models/mdl_A1', '/models/mdl_G1', '/models/mdl_T1']);
    // settings: cut to names
    expect(div.querySelector('[data-meta="other"]')!.textContent).toContain('merged from model on the server');
    // how to run it
    expect(div.querySelector('.snippets')!.textContent).toContain('whet generate --model');
  });

  it('shows a chain when the API gives one, linking each model', () => {
    const m: Model = {
      ...merged,
      lineage: { ...lineage, base_model: 'mdl_P0', chain: [{ base_model: 'stories260K', version: baseVersion }, { model_id: 'mdl_P0', name: 'first/ship/merged', job_id: 'job_0', datasets: [lineage.datasets[1]] }] },
    };
    const div = render(<ModelView m={m} names={new Map([['mdl_P0', 'first/ship/merged']])} />);
    const items = [...div.querySelectorAll('.model-chain li')];
    expect(items.map((li) => li.textContent)).toEqual([`stories260K @${baseVersion.slice(7, 19)}`, 'first/ship/merged on chat.jsonl (run)', 'stories-lora/ship/merged']);
    expect(items[1].querySelector('a')!.getAttribute('href')).toBe('/models/mdl_P0');
    expect(items[2].getAttribute('aria-current')).toBe('page');
    // the base model by its name, linked
    const baseLink = div.querySelector('[data-lineage="base"] a')!;
    expect([baseLink.textContent, baseLink.getAttribute('href')]).toEqual(['first/ship/merged', '/models/mdl_P0']);
    // a name neither fetched nor in a chain: the id
    const bare = render(<ModelView m={{ ...m, lineage: { ...lineage, base_model: 'mdl_P0' } }} />);
    expect(bare.querySelector('[data-lineage="base"] a')!.textContent).toBe('mdl_P0');
  });

  it('names a base model given by id: a placeholder while its name loads (never the raw id), the chain’s name when it has one', () => {
    const m: Model = { ...merged, lineage: { ...lineage, base_model: 'mdl_P0' } };
    // loading: a placeholder, still the link to the base (its id in the title)
    const loading = render(<ModelView m={m} loadingNames={new Set(['mdl_P0'])} />);
    const link = loading.querySelector('[data-lineage="base"] a')!;
    expect([link.textContent, link.getAttribute('href'), link.getAttribute('title'), link.getAttribute('aria-busy')]).toEqual(['loading name…', '/models/mdl_P0', 'mdl_P0', 'true']);
    expect(loading.querySelector('[data-lineage="base"]')!.textContent).not.toContain('mdl_P0');
    // loaded: the name
    const named = render(<ModelView m={m} names={new Map([['mdl_P0', 'first/ship/merged']])} loadingNames={new Set(['mdl_P0'])} />);
    expect(named.querySelector('[data-lineage="base"] a')!.textContent).toBe('first/ship/merged');
    // a chain that names the base: that name at once, no placeholder
    const chained: Model = { ...m, lineage: { ...m.lineage!, chain: [{ base_model: 'stories260K' }, { model_id: 'mdl_P0', name: 'first/ship/merged' }] } };
    const fromChain = render(<ModelView m={chained} loadingNames={new Set(['mdl_P0'])} />);
    const cl = fromChain.querySelector('[data-lineage="base"] a')!;
    expect([cl.textContent, cl.getAttribute('href'), cl.getAttribute('data-name-pending')]).toEqual(['first/ship/merged', '/models/mdl_P0', null]);
  });

  it('shows the GGUF checks, and points an adapter to the merged model to train from', async () => {
    const g = render(<ModelView m={gguf} job={job} runModels={run} />);
    await settle();
    const checks = [...g.querySelectorAll('.gguf-checks tbody tr')].map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent));
    expect(checks).toEqual([
      ['stories260K-f16.gguf', 'f16', '100 %', '0.0012', 'passed'],
      ['stories260K-q8_0.gguf', 'q8_0', '95 %', '0.31', 'passed'],
    ]);
    expect(g.querySelector('[data-fact="format"]')!.textContent).toContain('with an Ollama Modelfile');
    expect(g.textContent).not.toContain('/tmp');
    const a = render(<ModelView m={adapter} job={job} runModels={run} />);
    await settle();
    const not = a.querySelector('[data-not-base]')!;
    expect(not.textContent).toContain('this is a PEFT LoRA adapter');
    expect(not.querySelector('a')!.getAttribute('href')).toBe('/models/mdl_M1');
    expect(a.querySelector('.use-as-base button')).toBeNull();
  });

  it('“Fine-tune this model” puts its run’s pipeline, trained from it, in the editor', async () => {
    history.replaceState(null, '', '/models/mdl_M1');
    const div = render(<ModelView m={merged} job={job} runModels={run} />);
    expect(div.querySelector('.use-as-base pre')!.textContent).toBe('- id: tune\n  agent: train\n  params:\n    base_model: mdl_M1\n    method: lora\n');
    const button = [...div.querySelectorAll('.use-as-base button')].find((b) => b.textContent === 'Fine-tune this model in the editor') as HTMLButtonElement;
    await act(async () => {
      button.click();
      for (let i = 0; i < 50 && location.pathname !== '/'; i++) await new Promise((r) => setTimeout(r, 10));
    });
    expect(location.pathname).toBe('/');
    const draft = JSON.parse(localStorage.getItem(DRAFT_KEY)!);
    expect(draft.name).toBe('stories-lora-from-m1');
    expect(draft.nodes.find((n: { id: string }) => n.id === 'tune').params.base_model).toBe('mdl_M1');
    expect(draft.edges).toHaveLength(job.spec!.edges.length);
  });
});
