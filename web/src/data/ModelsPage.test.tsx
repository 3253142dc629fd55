import { describe, expect, it } from 'vitest';
import type { Job, Model } from '../api';
import { groupModels, modelFiles, snippets } from './ModelsPage';

const meta = { base_model: '/work/shared/assets/models/stories260K', method: 'lora', sha256: 'fa59f27598c6c99cfd38e2f825d4bc88e153fb64cb0d9966408ba5547832632c' };
const m = (id: string, output: string, files: string[], extra: Record<string, unknown> = {}): Model => ({
  model_id: id,
  name: `stories-lora/ship/${output}`,
  job_id: 'job_1',
  node_id: output === 'model' ? 'tune' : 'ship',
  output,
  files,
  size: 1000,
  created_at: '2026-12-04T15:26:58Z',
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
    spec: { name: 'stories-lora', nodes: [{ id: 'data', agent: 'dataset', params: { source: '/srv/data/alpaca_en_demo.json' } }], edges: [] },
  },
  { job_id: 'job_2', name: 'uploaded', status: 'succeeded', created_at: '2026-12-04T16:00:00Z', spec: { name: 'uploaded', nodes: [{ id: 'd', agent: 'dataset', params: { source: 'ds_01abc' } }], edges: [] } },
];

describe('models page', () => {
  it('groups a run’s models (adapter, merged, GGUF, then the trained model) with lineage, newest run first, without server paths', () => {
    const g = groupModels(models, jobs);
    expect(g.map((x) => x.jobID)).toEqual(['job_2', 'job_1']);
    expect(g[1].models.map((x) => x.output)).toEqual(['adapter', 'merged', 'gguf', 'model']);
    expect(g[1].base).toBe('stories260K');
    expect(g[1].dataset).toEqual({ label: 'alpaca_en_demo.json' });
    expect(g[0].dataset).toEqual({ label: 'ds_01abc', id: 'ds_01abc' });
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
