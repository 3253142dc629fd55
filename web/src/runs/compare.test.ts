import { describe, expect, it } from 'vitest';
import type { Job, PipelineSpec } from '../api';
import { compareMetrics, diffConfigs, finalMetrics, flattenConfig, runLabels } from './compare';

const spec = (lr: number, rank: number, extra?: Record<string, unknown>): PipelineSpec => ({
  name: 'stories-lora',
  nodes: [
    { id: 'data', agent: 'dataset', params: { source: 'alpaca.json' } },
    { id: 'tune', agent: 'train', params: { learning_rate: lr, lora: { rank, alpha: 16, targets: ['q_proj', 'v_proj'] }, ...extra } },
  ],
  edges: [{ from: 'data', to: 'tune' }],
});

const job = (id: string, loss: number, rouge: number, s: PipelineSpec): Job => ({
  job_id: id,
  name: 'stories-lora',
  status: 'succeeded',
  created_at: '2026-12-04T15:00:00Z',
  started_at: '2026-12-04T15:00:00Z',
  finished_at: '2026-12-04T15:00:30Z',
  spec: s,
  nodes: [
    { id: 'tune', agent: 'train', status: 'succeeded', outputs: [{ type: 'model', name: 'model', meta: { final_loss: loss, steps: 30, base_model: '/srv/m' } }] },
    {
      id: 'versus',
      agent: 'compare',
      status: 'succeeded',
      outputs: [{ type: 'report', name: 'comparison', meta: { kind: 'comparison', metrics: { tuned_rouge_l: rouge, base_rouge_l: 0.06, tuned_perplexity: 1 / rouge } } }],
    },
  ],
});

describe('compare runs', () => {
  it('flattens a config: agents, inputs, nested params', () => {
    const f = flattenConfig(spec(0.003, 8));
    expect([...f.entries()]).toEqual([
      ['name', 'stories-lora'],
      ['data.agent', 'dataset'],
      ['data.source', 'alpaca.json'],
      ['tune.agent', 'train'],
      ['tune.inputs', 'data'],
      ['tune.learning_rate', '0.003'],
      ['tune.lora.rank', '8'],
      ['tune.lora.alpha', '16'],
      ['tune.lora.targets', 'q_proj, v_proj'],
    ]);
  });

  it('marks the params that differ, and the ones only one run has', () => {
    const rows = diffConfigs([spec(0.003, 8), spec(0.001, 8, { epochs: 2 })]);
    expect(rows.filter((r) => r.differs).map((r) => [r.key, ...r.values])).toEqual([
      ['tune.learning_rate', '0.003', '0.001'],
      ['tune.epochs', undefined, '2'],
    ]);
    expect(rows.find((r) => r.key === 'tune.lora.rank')!.differs).toBe(false);
  });

  it('lines up final metrics and marks the best where the direction is known', () => {
    const a = job('job_aaaaaa1', 4.2, 0.08, spec(0.003, 8));
    const b = job('job_bbbbbb2', 3.9, 0.05, spec(0.001, 8));
    expect(finalMetrics(a).get('tune.final_loss')).toBe(4.2);
    expect(finalMetrics(a).get('duration_s')).toBe(30);
    const rows = Object.fromEntries(compareMetrics([a, b]).map((r) => [r.key, r]));
    expect(rows['tune.final_loss'].values).toEqual([4.2, 3.9]);
    expect(rows['tune.final_loss'].best).toBe(1); // lower loss
    expect(rows['versus.tuned_rouge_l'].best).toBe(0); // higher rouge
    expect(rows['versus.tuned_perplexity'].best).toBe(0); // lower perplexity
    expect(rows['versus.base_rouge_l'].best).toBeUndefined(); // the same base model: no winner
    expect(rows['tune.steps'].best).toBeUndefined();
    expect(runLabels([a, b])).toEqual(['stories-lora · aaaaa1', 'stories-lora · bbbbb2']);
  });
});
