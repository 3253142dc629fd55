import { describe, expect, it } from 'vitest';
import type { AgentSpec, PipelineSpec } from '../api';
import { canConnect, checkParam, fromSpec, layout, newNodeID, parseSpec, portOf, SpecError, toSpec, toYAML, wouldCycle, LAYER_GAP } from './pipeline';

const agents: AgentSpec[] = [
  { name: 'dataset', description: '', params: [], inputs: [], outputs: [{ type: 'dataset', name: 'data' }], gpu: false },
  {
    name: 'validate',
    description: '',
    params: [],
    inputs: [{ type: 'dataset', name: 'data', required: true }],
    outputs: [
      { type: 'dataset', name: 'clean' },
      { type: 'report', name: 'findings' },
    ],
    gpu: false,
  },
  { name: 'train', description: '', params: [], inputs: [{ type: 'dataset', name: 'train' }], outputs: [{ type: 'model', name: 'adapter' }], gpu: true },
  { name: 'export', description: '', params: [], inputs: [{ type: 'model', name: 'model' }], outputs: [{ type: 'model', name: 'gguf' }], gpu: false },
];

const yamlText = `name: lora-finetune
nodes:
  - id: data
    agent: dataset
    params:
      source: ../shared/assets/datasets/llama-factory/alpaca_en_demo.json
      limit: 200
  - id: check
    agent: validate
    max_attempts: 2
  - id: train
    agent: train
    params:
      lora:
        rank: 8
        alpha: 16.5
      target_modules:
        - q_proj
        - v_proj
      packing: true
    cache: false
  - id: gguf
    agent: export
edges:
  - from: data
    to: check
  - from: check
    to: train
  - from: train
    to: gguf
`;

describe('YAML round trip', () => {
  it('parses, lays out and writes back the same spec', () => {
    const spec = parseSpec(yamlText);
    const g = fromSpec(spec, agents);
    const back = toSpec(g);
    expect(back).toEqual(spec);
    // and the YAML text itself survives unchanged
    expect(toYAML(back)).toBe(yamlText);
    expect(parseSpec(toYAML(back))).toEqual(spec);
  });

  it('keeps typed params (numbers, booleans, lists, nested maps)', () => {
    const spec = parseSpec(yamlText);
    const train = spec.nodes.find((n) => n.id === 'train')!;
    expect(train.params).toEqual({ lora: { rank: 8, alpha: 16.5 }, target_modules: ['q_proj', 'v_proj'], packing: true });
    expect(spec.nodes.find((n) => n.id === 'check')!.max_attempts).toBe(2);
    expect(train.cache).toBe(false);
  });

  it('reads flow style and any key order', () => {
    const flow = yamlText.replace('      target_modules:\n        - q_proj\n        - v_proj\n', '      target_modules: [q_proj, v_proj]\n');
    expect(flow).not.toBe(yamlText);
    expect(parseSpec(flow)).toEqual(parseSpec(yamlText));
  });

  it('accepts JSON as the API takes it', () => {
    const spec: PipelineSpec = { name: 'j', nodes: [{ id: 'a', agent: 'dataset', params: { x: 1 } }], edges: [] };
    expect(parseSpec(JSON.stringify(spec))).toEqual(spec);
  });

  it('picks typed handles for imported edges', () => {
    const g = fromSpec(parseSpec(yamlText), agents);
    const e = g.edges.find((e) => e.source === 'train' && e.target === 'gguf')!;
    expect(e.sourceHandle).toBe('out:adapter');
    expect(e.targetHandle).toBe('in:model');
  });

  it('drops empty params from the exported spec', () => {
    const spec = toSpec({ name: 'p', nodes: [{ id: 'a', agent: 'dataset', params: { source: '', limit: undefined }, position: { x: 0, y: 0 } }], edges: [] });
    expect(spec.nodes[0]).toEqual({ id: 'a', agent: 'dataset' });
  });

  it.each([
    ['name: [unclosed', /YAML line 1/],
    ['- a\n- b', /expected a mapping/],
    ['name: x\nnodes: {}', /nodes: expected a list/],
    ['name: x\nnodes:\n  - agent: dataset', /nodes\[0\]\.id: required/],
    ['name: x\nnodes:\n  - id: a', /nodes\[0\]\.agent: required/],
    ['name: x\nnodes:\n  - {id: a, agent: dataset}\n  - {id: a, agent: train}', /duplicate id "a"/],
    ['name: x\nnodes:\n  - {id: a, agent: dataset}\nedges:\n  - {from: a, to: b}', /edges\[0\]\.to: unknown node "b"/],
    ['name: x\nnodes:\n  - {id: a, agent: dataset, parms: {}}', /nodes\[0\]\.parms: unknown field/],
    ['name: x\nnode: []', /node: unknown field/],
    ['name: x\nnodes:\n  - {id: a, agent: dataset, params: [1]}', /params: expected a mapping/],
  ])('rejects %j', (text, msg) => {
    expect(() => parseSpec(text)).toThrow(SpecError);
    expect(() => parseSpec(text)).toThrow(msg);
  });
});

describe('graph rules', () => {
  it('connects only matching artifact types', () => {
    const ds = agents[0];
    const train = agents[2];
    const exp = agents[3];
    expect(canConnect(portOf(ds, 'out:data', 'out'), portOf(train, 'in:train', 'in'))).toBe(true);
    expect(canConnect(portOf(ds, 'out:data', 'out'), portOf(exp, 'in:model', 'in'))).toBe(false);
    expect(canConnect(portOf(agents[1], 'out:findings', 'out'), portOf(train, 'in:train', 'in'))).toBe(false);
    expect(canConnect(undefined, portOf(train, 'in:train', 'in'))).toBe(false);
  });

  it('finds cycles', () => {
    const edges = [
      { source: 'a', target: 'b' },
      { source: 'b', target: 'c' },
    ];
    expect(wouldCycle(edges, 'c', 'a')).toBe(true);
    expect(wouldCycle(edges, 'a', 'a')).toBe(true);
    expect(wouldCycle(edges, 'a', 'c')).toBe(false);
  });

  it('wraps a long chain into bands that fit the canvas', () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const chain = {
      name: 'x',
      nodes: ids.map((id) => ({ id, agent: 'x', params: {}, position: { x: 0, y: 0 } })),
      edges: ids.slice(1).map((id, i) => ({ id: String(i), source: ids[i], target: id })),
    };
    // 7 layers in one row need 1900 px: at 900×600 that is under half size, so the chain wraps
    const g = layout(chain, { width: 900, height: 600 });
    const xs = g.nodes.map((n) => n.position.x);
    const ys = new Set(g.nodes.map((n) => n.position.y));
    expect(ys.size).toBeGreaterThan(1);
    const w = Math.max(...xs) + 220;
    const h = Math.max(...g.nodes.map((n) => n.position.y)) + 150;
    expect(Math.min(900 / w, 600 / h)).toBeGreaterThan(0.6);
    // order kept: each band reads left to right
    const pos = Object.fromEntries(g.nodes.map((n) => [n.id, n.position]));
    expect(pos.a.x).toBe(0);
    expect(pos.b.x).toBeGreaterThan(pos.a.x);
    // without a box: one row
    expect(new Set(layout(chain).nodes.map((n) => n.position.y)).size).toBe(1);
  });

  it('lays out by longest path', () => {
    const g = layout({
      name: 'x',
      nodes: ['a', 'b', 'c', 'd'].map((id) => ({ id, agent: 'x', params: {}, position: { x: 0, y: 0 } })),
      edges: [
        { id: '1', source: 'a', target: 'b' },
        { id: '2', source: 'b', target: 'c' },
        { id: '3', source: 'a', target: 'c' },
        { id: '4', source: 'a', target: 'd' },
      ],
    });
    const x = Object.fromEntries(g.nodes.map((n) => [n.id, n.position.x / LAYER_GAP]));
    expect(x).toEqual({ a: 0, b: 1, c: 2, d: 1 });
    const ys = g.nodes.filter((n) => x[n.id] === 1).map((n) => n.position.y);
    expect(new Set(ys).size).toBe(2);
  });

  it('numbers new nodes', () => {
    expect(newNodeID('train', ['train-1', 'train-3'])).toBe('train-2');
  });
});

describe('checkParam', () => {
  it.each([
    [{ name: 'r', type: 'integer', minimum: 1, maximum: 64 }, 0, 'must be ≥ 1'],
    [{ name: 'r', type: 'integer', minimum: 1, maximum: 64 }, 65, 'must be ≤ 64'],
    [{ name: 'r', type: 'integer' }, 1.5, 'must be a whole number'],
    [{ name: 'r', type: 'integer' }, 'x', 'must be a number'],
    [{ name: 'r', type: 'integer', minimum: 1 }, 8, null],
    [{ name: 's', type: 'string', required: true }, undefined, 'required'],
    [{ name: 's', type: 'string', required: true, default: 'x' }, undefined, null],
    [{ name: 's', type: 'string', enum: ['a', 'b'] }, 'c', 'must be one of a, b'],
    [{ name: 'l', type: 'array', items: 'integer' }, [1, 'x'], 'item "x": must be a number'],
    [{ name: 'o', type: 'object', fields: [{ name: 'rank', type: 'integer', minimum: 1 }] }, { rank: 0 }, 'rank: must be ≥ 1'],
  ] as const)('%j with %j', (p, v, want) => {
    expect(checkParam(p as never, v)).toBe(want);
  });
});
