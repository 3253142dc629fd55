import { describe, expect, it } from 'vitest';
import type { AgentSpec } from '../api';
import { connectionProblem } from './useGraph';
import type { Graph } from './pipeline';

const agent = (name: string, ins: string[], outs: string[]): AgentSpec => ({
  name,
  description: '',
  params: [],
  gpu: false,
  inputs: ins.map((t) => ({ type: t, name: t })),
  outputs: outs.map((t) => ({ type: t, name: t })),
});

describe('connectionProblem', () => {
  const specOf = new Map([
    ['validate', agent('validate', ['dataset'], ['report'])],
    ['train', agent('train', ['dataset'], ['model'])],
    ['prep', agent('prep', ['dataset'], ['dataset'])],
  ]);
  const g: Graph = {
    name: 'x',
    nodes: [
      { id: 'v', agent: 'validate', params: {}, position: { x: 0, y: 0 } },
      { id: 't', agent: 'train', params: {}, position: { x: 0, y: 0 } },
      { id: 'a', agent: 'prep', params: {}, position: { x: 0, y: 0 } },
      { id: 'b', agent: 'prep', params: {}, position: { x: 0, y: 0 } },
    ],
    edges: [{ id: 'a->b', source: 'a', target: 'b' }],
  };
  const c = (source: string, target: string) => ({ source, target, sourceHandle: null, targetHandle: null });

  it('says why a connection is refused', () => {
    expect(connectionProblem(g, specOf, c('v', 't'))).toMatch(/v gives a report, but t's input dataset takes a dataset/);
    expect(connectionProblem(g, specOf, c('a', 'b'))).toMatch(/already feeds/);
    expect(connectionProblem(g, specOf, c('b', 'a'))).toMatch(/cycle/);
    expect(connectionProblem(g, specOf, c('a', 'a'))).toMatch(/itself/);
  });
  it('allows a compatible connection', () => {
    expect(connectionProblem(g, specOf, c('b', 't'))).toBe('');
  });
});
