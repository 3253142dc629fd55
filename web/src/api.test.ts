import { describe, expect, it } from 'vitest';
import { parseProblem } from './api';

describe('parseProblem', () => {
  it('reads whet serve validation problems (node and field from the location)', () => {
    const p = parseProblem(422, {
      title: 'Unprocessable Entity',
      status: 422,
      detail: 'invalid pipeline',
      errors: [
        {
          location: 'nodes[validate-1].params.near_duplicate_threshold',
          message: 'node "validate-1": params.near_duplicate_threshold: -0.95 is below the minimum 0.05',
        },
        { location: 'nodes[train].params.lora.rank', message: 'node "train": params.lora.rank: 0 is below the minimum 1' },
        { location: 'nodes[#1].id', message: 'node "#1": id: is required' },
        { location: 'name', message: 'name: is required' },
        { location: 'body.nodes[0].agent', message: 'expected string' },
      ],
    });
    expect(p.status).toBe(422);
    expect(p.detail).toBe('invalid pipeline');
    expect(p.errors).toEqual([
      { node: 'validate-1', field: 'params.near_duplicate_threshold', message: '-0.95 is below the minimum 0.05' },
      { node: 'train', field: 'params.lora.rank', message: '0 is below the minimum 1' },
      { node: '#1', field: 'id', message: 'is required' },
      { node: undefined, field: 'name', message: 'is required' },
      { node: '#0', field: 'agent', message: 'expected string' },
    ]);
  });

  it('reads explicit node and field members', () => {
    const p = parseProblem(422, { errors: [{ node: 'a', field: 'params.x', message: 'bad' }] });
    expect(p.errors).toEqual([{ node: 'a', field: 'params.x', message: 'bad' }]);
    expect(p.title).toBe('HTTP 422');
  });

  it('survives a body that is not a problem', () => {
    const p = parseProblem(502, 'Bad Gateway');
    expect(p.errors).toEqual([]);
    expect(p.message).toBe('HTTP 502');
  });
});
