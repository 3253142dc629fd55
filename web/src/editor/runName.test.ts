import { describe, expect, it } from 'vitest';
import type { Graph } from './pipeline';
import { pipelineBase, runName, stamp } from './runName';

const node = (id: string, agent: string, params: Record<string, unknown> = {}) => ({ id, agent, params, position: { x: 0, y: 0 } });
const g = (name: string, nodes: Graph['nodes']): Graph => ({ name, nodes, edges: [] }) as Graph;

describe('run names', () => {
  const when = new Date(2026, 11, 4, 9, 5);
  it('stamps the local date and time to the minute', () => expect(stamp(when)).toBe('2026-12-04-0905'));

  const cases: { name: string; graph: Graph; want: string }[] = [
    { name: 'named pipeline', graph: g('lora-finetune', [node('t', 'train', { base_model: 'x' })]), want: 'lora-finetune' },
    { name: 'spaces and odd characters', graph: g('My pipeline: v2!', []), want: 'My-pipeline-v2' },
    {
      name: 'default name: the training step and its base model',
      graph: g('my-pipeline', [node('d', 'dataset', { source: 'ds_1' }), node('t', 'train', { base_model: '../shared/assets/models/stories260K/' })]),
      want: 'train-stories260K',
    },
    { name: 'default name: a dataset check named after the uploaded dataset', graph: g('my-pipeline', [node('d', 'dataset', { source: 'ds_1' }), node('v', 'validate')]), want: 'validate-alpaca-demo' },
    { name: 'default name: a file path loses its extension', graph: g('', [node('d', 'dataset', { source: 'data/alpaca_en_demo.json' })]), want: 'dataset-alpaca_en_demo' },
    { name: 'empty pipeline', graph: g('my-pipeline', []), want: 'my-pipeline' },
  ];
  for (const c of cases) it(c.name, () => expect(pipelineBase(c.graph, [{ dataset_id: 'ds_1', name: 'alpaca-demo', size: 1 }])).toBe(c.want));

  it('joins the base and the stamp', () => expect(runName(g('lora-finetune', []), when)).toBe('lora-finetune-2026-12-04-0905'));
});
