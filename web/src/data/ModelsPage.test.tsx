import { describe, expect, it } from 'vitest';
import { act } from 'react';
import { createRoot } from 'react-dom/client';
import type { Job, Model } from '../api';
import { ModelGroupView, groupModels, modelFiles, modelLineage, snippets } from './ModelsPage';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const version = 'sha256:3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b';
// What a run of the shared example records: the base model as the server's absolute path, the dataset by its version.
const lineage = {
  base_model: '/work/shared/assets/models/stories260K',
  datasets: [{ source: '../shared/assets/datasets/llama-factory/alpaca_en_demo.json', name: 'alpaca_en_demo.json', version }],
};
const meta = {
  base_model: '/work/shared/assets/models/stories260K',
  method: 'lora',
  sha256: 'fa59f27598c6c99cfd38e2f825d4bc88e153fb64cb0d9966408ba5547832632c',
  tokenizer: '/tmp/whet-e2e-abc/work/job_1/prep/tokenizer',
  note: 'merged from /tmp/whet-e2e-abc/blobs/jobs/job_1/tune/model/ on the server',
  lineage,
};
const m = (id: string, output: string, files: string[], extra: Record<string, unknown> = {}): Model => ({
  model_id: id,
  name: `stories-lora/ship/${output}`,
  job_id: 'job_1',
  node_id: output === 'model' ? 'tune' : 'ship',
  output,
  files,
  size: 1000,
  created_at: '2026-12-04T15:26:58Z',
  lineage,
  meta: { ...meta, files: files.map((f, i) => ({ path: f, size: 10 * (i + 1), sha256: `${i}`.repeat(64) })), ...extra },
});
// What GET /models answers for one run of the shared example (four loose entries before).
const models: Model[] = [
  m('mdl_g', 'gguf', ['Modelfile', 'stories260K-f16.gguf', 'stories260K-lora-f16.gguf', 'stories260K-q8_0.gguf']),
  m('mdl_t', 'model', ['adapter_config.json', 'adapter_model.safetensors', 'history.json'], { format: 'peft-lora' }),
  m('mdl_m', 'merged', ['config.json', 'model.safetensors']),
  m('mdl_a', 'adapter', ['adapter_config.json', 'adapter_model.safetensors']),
  { model_id: 'mdl_x', name: 'other', job_id: 'job_2', output: 'model', files: ['config.json'], created_at: '2026-12-04T16:00:00Z' },
];
const jobs: Job[] = [
  {
    job_id: 'job_1',
    name: 'stories-lora',
    status: 'succeeded',
    created_at: '2026-12-04T15:26:45Z',
    spec: {
      name: 'stories-lora',
      nodes: [
        { id: 'data', agent: 'dataset', params: { source: '/srv/data/alpaca_en_demo.json' } },
        { id: 'prep', agent: 'preprocess' },
        { id: 'tune', agent: 'train' },
        { id: 'ship', agent: 'export' },
      ],
      edges: [
        { from: 'data', to: 'prep' },
        { from: 'prep', to: 'tune' },
        { from: 'tune', to: 'ship' },
      ],
    },
  },
  { job_id: 'job_2', name: 'uploaded', status: 'succeeded', created_at: '2026-12-04T16:00:00Z', spec: { name: 'uploaded', nodes: [{ id: 'd', agent: 'dataset', params: { source: 'ds_01abc' } }], edges: [] } },
];

describe('models page', () => {
  it('groups a run’s models (adapter, merged, GGUF, then the trained model) with lineage, newest run first, without server paths', () => {
    const g = groupModels(models, jobs);
    expect(g.map((x) => x.jobID)).toEqual(['job_2', 'job_1']);
    expect(g[1].models.map((x) => x.output)).toEqual(['adapter', 'merged', 'gguf', 'model']);
    expect(g[1].base).toBe('stories260K');
    expect(g[1].datasets).toEqual([{ label: 'alpaca_en_demo.json', version }]);
    // no lineage recorded: the run's dataset source
    expect(g[0].datasets).toEqual([{ label: 'ds_01abc', id: 'ds_01abc' }]);
  });

  it('gives each model its lineage: base model by folder name, dataset versions, node, parent', () => {
    const run = models.filter((x) => x.job_id === 'job_1');
    const gguf = modelLineage(models[0], run, jobs[0]);
    expect(gguf).toEqual({ base: 'stories260K', datasets: [{ label: 'alpaca_en_demo.json', version }], jobID: 'job_1', node: 'ship', parent: models[1] });
    const trained = modelLineage(models[1], run, jobs[0]);
    expect(trained.parent).toBeUndefined();
    expect(trained.node).toBe('tune');
    // without the run's graph an export still comes from the trained model
    expect(modelLineage(models[2], run).parent?.model_id).toBe('mdl_t');
    // a fine-tune of a model of this server names it
    const again: Model = { model_id: 'mdl_y', job_id: 'job_3', node_id: 'tune', output: 'model', lineage: { base_model: 'mdl_t', datasets: [{ dataset_id: 'ds_01abc', name: 'chat.jsonl', version }] } };
    expect(modelLineage(again, [again])).toEqual({ baseModelID: 'mdl_t', datasets: [{ label: 'chat.jsonl', id: 'ds_01abc', version }], jobID: 'job_3', node: 'tune' });
    // a fine-tune of another node's model (no lineage upstream): by node and output, and the run that made it
    const chained: Model = { model_id: 'mdl_z', job_id: 'job_4', node_id: 'again', output: 'model', meta: { base_model: 'blob:jobs/job_1/tune/model/' } };
    expect(modelLineage(chained, [chained])).toEqual({ base: 'tune/model', baseJob: 'job_1', datasets: [], jobID: 'job_4', node: 'again' });
    const div = document.createElement('div');
    act(() => createRoot(div).render(<ModelGroupView g={groupModels([chained], [])[0]} />));
    const base = div.querySelector('tr[data-model-id="mdl_z"] [data-lineage="base"] a')!;
    expect([base.textContent, base.getAttribute('href')]).toEqual(['tune/model', '/runs/job_1']);
    expect(div.textContent).not.toContain('blob:');
  });

  it('shows every model’s lineage and never a server path', () => {
    const div = document.createElement('div');
    document.body.appendChild(div);
    act(() => createRoot(div).render(<ModelGroupView g={groupModels(models, jobs)[1]} />));
    const text = div.textContent!;
    for (const p of ['/work', '/tmp', '/srv', '../shared']) expect(text).not.toContain(p);
    const row = (id: string, k: string) => div.querySelector(`tr[data-model-id="${id}"] [data-lineage="${k}"]`)!;
    for (const id of ['mdl_a', 'mdl_m', 'mdl_g', 'mdl_t']) {
      expect(row(id, 'base').textContent).toBe('stories260K');
      expect(row(id, 'datasets').textContent).toBe(`alpaca_en_demo.json @${version.slice(7, 19)}`);
    }
    expect(row('mdl_g', 'node').textContent).toBe('ship');
    expect(row('mdl_g', 'parent').getAttribute('data-parent-id')).toBe('mdl_t');
    expect(row('mdl_g', 'parent').textContent).toBe('model of tune mdl_t');
    expect(row('mdl_t', 'parent').textContent).toBe('—');
    // each model links to its page
    for (const id of ['mdl_a', 'mdl_m', 'mdl_g', 'mdl_t']) expect(div.querySelector(`tr[data-model-id="${id}"] td strong a`)!.getAttribute('href')).toBe(`/models/${id}`);
    // metadata keeps the rest, cut to names
    const meta = div.querySelector('tr[data-model-id="mdl_t"]')!.textContent!;
    expect(meta).toContain('tokenizer');
    expect(meta).toContain('merged from model on the server');
  });

  it('lists files with sizes and hashes', () => {
    expect(modelFiles(models[2])).toEqual([
      { path: 'config.json', size: 10, sha256: '0'.repeat(64) },
      { path: 'model.safetensors', size: 20, sha256: '1'.repeat(64) },
    ]);
    expect(modelFiles(models[4])).toEqual([{ path: 'config.json' }]);
  });

  it('says how to run the models: Ollama, llama.cpp, whet generate and Python with PEFT', () => {
    const s = snippets(groupModels(models, jobs)[1], 'http://whet.example:8080');
    expect(s.map((x) => x.id)).toEqual(['ollama', 'llama.cpp', 'whet', 'python']);
    const by = Object.fromEntries(s.map((x) => [x.id, x.code]));
    expect(by.ollama).toContain('curl -fL http://whet.example:8080/api/v1/models/mdl_g/download | tar -x');
    expect(by.ollama).toContain('ollama create stories-lora -f Modelfile');
    expect(by['llama.cpp']).toContain('llama-cli -m stories260K-q8_0.gguf');
    expect(by['llama.cpp']).toContain('download?file=stories260K-q8_0.gguf');
    expect(by.whet).toContain('whet generate --model stories-lora-merged');
    expect(by.python).toContain('from peft import PeftModel');
    expect(by.python).toContain('PeftModel.from_pretrained(base, "stories-lora-adapter")');
    expect(by.python).toContain('path/to/stories260K');
    for (const x of s) expect(x.code).not.toContain('/work/shared');
  });
});
