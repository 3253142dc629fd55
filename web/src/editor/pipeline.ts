// The editor's pipeline model: the graph drawn on the canvas, its conversion
// to and from the spec that POST /api/v1/jobs and `whet run` read (JSON or
// YAML), port compatibility and auto-layout. No React here, so it is easy to test.

import { parseDocument, stringify } from 'yaml';
import type { AgentSpec, Param, PipelineSpec, Port } from '../api';

export interface GraphNode {
  id: string;
  agent: string;
  params: Record<string, unknown>;
  position: { x: number; y: number };
  /** spec fields the editor does not draw (max_attempts, cache), kept for the round trip */
  extra?: { max_attempts?: number; cache?: boolean };
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  sourceHandle?: string | null;
  targetHandle?: string | null;
}

export interface Graph {
  name: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export const outHandle = (p: Port) => `out:${p.name || p.type}`;
export const inHandle = (p: Port) => `in:${p.name || p.type}`;

export function portOf(spec: AgentSpec | undefined, handle: string | null | undefined, dir: 'in' | 'out'): Port | undefined {
  if (!spec) return undefined;
  const ports = (dir === 'in' ? spec.inputs : spec.outputs) ?? [];
  if (!handle) return ports[0];
  return ports.find((p) => (dir === 'in' ? inHandle(p) : outHandle(p)) === handle);
}

/** canConnect says whether output `from` of one node may feed input `to` of another. */
export function canConnect(from: Port | undefined, to: Port | undefined): boolean {
  return !!from && !!to && from.type === to.type;
}

/** wouldCycle reports whether adding source→target creates a cycle. */
export function wouldCycle(edges: { source: string; target: string }[], source: string, target: string): boolean {
  if (source === target) return true;
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.source, [...(next.get(e.source) ?? []), e.target]);
  const seen = new Set<string>();
  const stack = [target];
  while (stack.length) {
    const n = stack.pop()!;
    if (n === source) return true;
    if (seen.has(n)) continue;
    seen.add(n);
    stack.push(...(next.get(n) ?? []));
  }
  return false;
}

/** pickHandles chooses the first compatible output/input port pair of two agents. */
export function pickHandles(a: AgentSpec | undefined, b: AgentSpec | undefined): { sourceHandle?: string; targetHandle?: string } {
  for (const o of a?.outputs ?? [])
    for (const i of b?.inputs ?? []) if (canConnect(o, i)) return { sourceHandle: outHandle(o), targetHandle: inHandle(i) };
  return {
    sourceHandle: a?.outputs?.[0] ? outHandle(a.outputs[0]) : undefined,
    targetHandle: b?.inputs?.[0] ? inHandle(b.inputs[0]) : undefined,
  };
}

/** toSpec turns the drawn graph into a pipeline spec, dropping UI-only state. */
export function toSpec(g: Graph): PipelineSpec {
  return {
    name: g.name,
    nodes: g.nodes.map((n) => {
      const params = cleanParams(n.params);
      const node: PipelineSpec['nodes'][number] = { id: n.id, agent: n.agent };
      if (Object.keys(params).length) node.params = params;
      if (n.extra?.max_attempts !== undefined) node.max_attempts = n.extra.max_attempts;
      if (n.extra?.cache !== undefined) node.cache = n.extra.cache;
      return node;
    }),
    edges: g.edges.map((e) => ({ from: e.source, to: e.target })),
  };
}

function cleanParams(p: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p ?? {})) if (v !== undefined && v !== '') out[k] = v;
  return out;
}

/** fromSpec lays a spec out on the canvas. */
export function fromSpec(spec: PipelineSpec, agents: AgentSpec[]): Graph {
  const byName = new Map(agents.map((a) => [a.name, a]));
  const agentOf = new Map(spec.nodes.map((n) => [n.id, byName.get(n.agent)]));
  const nodes: GraphNode[] = spec.nodes.map((n) => {
    const g: GraphNode = { id: n.id, agent: n.agent, params: { ...(n.params ?? {}) }, position: { x: 0, y: 0 } };
    if (n.max_attempts !== undefined || n.cache !== undefined) g.extra = { max_attempts: n.max_attempts, cache: n.cache };
    return g;
  });
  const edges: GraphEdge[] = spec.edges.map((e) => ({
    id: `${e.from}->${e.to}`,
    source: e.from,
    target: e.to,
    ...pickHandles(agentOf.get(e.from), agentOf.get(e.to)),
  }));
  return layout({ name: spec.name, nodes, edges });
}

export const LAYER_GAP = 280;
export const ROW_GAP = 150;
const NODE_W = 220;
const BAND_GAP = 60;

/**
 * layout places nodes in layers by longest path from a source (left to right),
 * ordering each layer by the mean row of its predecessors to limit crossings.
 */
/**
 * layout places nodes in layers by longest path (sources left). Given the
 * canvas size, a long chain wraps into bands of layers (left to right, then
 * the next band below) so the whole graph fits at the largest zoom.
 */
export function layout(g: Graph, box?: { width: number; height: number }): Graph {
  const ids = g.nodes.map((n) => n.id);
  const preds = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const e of g.edges) preds.get(e.target)?.push(e.source);
  const layer = new Map<string, number>();
  const depth = (id: string, seen: Set<string>): number => {
    if (layer.has(id)) return layer.get(id)!;
    if (seen.has(id)) return 0; // cycle guard
    seen.add(id);
    const ps = preds.get(id) ?? [];
    const d = ps.length ? Math.max(...ps.map((p) => depth(p, seen) + 1)) : 0;
    layer.set(id, d);
    return d;
  };
  ids.forEach((id) => depth(id, new Set()));
  const layers: string[][] = [];
  for (const id of ids) (layers[layer.get(id)!] ??= []).push(id);
  const row = new Map<string, number>();
  layers.forEach((ls, li) => {
    if (li > 0) {
      const key = (id: string) => {
        const ps = preds.get(id) ?? [];
        return ps.length ? ps.reduce((s, p) => s + (row.get(p) ?? 0), 0) / ps.length : 0;
      };
      ls.sort((a, b) => key(a) - key(b));
    }
    ls.forEach((id, i) => row.set(id, i - (ls.length - 1) / 2));
  });
  const nl = layers.length;
  const tall = Math.max(1, ...layers.map((l) => l.length));
  let per = nl;
  if (box && box.width > 0 && box.height > 0 && nl > 2) {
    let best = -1;
    for (let k = 2; k <= nl; k++) {
      const bands = Math.ceil(nl / k);
      const w = (k - 1) * LAYER_GAP + NODE_W;
      const h = bands * tall * ROW_GAP + (bands - 1) * BAND_GAP;
      const zoom = Math.min(box.width / w, box.height / h, 1);
      if (zoom > best + 1e-9) {
        best = zoom;
        per = k;
      }
    }
  }
  const bandH = tall * ROW_GAP + BAND_GAP;
  return {
    ...g,
    nodes: g.nodes.map((n) => {
      const l = layer.get(n.id) ?? 0;
      const band = Math.floor(l / per);
      return { ...n, position: { x: (l % per) * LAYER_GAP, y: band * bandH + (row.get(n.id) ?? 0) * ROW_GAP } };
    }),
  };
}

/** toYAML writes a spec as the YAML `whet run` reads. */
export function toYAML(spec: PipelineSpec): string {
  return stringify(spec, { lineWidth: 0 });
}

export class SpecError extends Error {}

/** parseSpec reads a pipeline spec from YAML (or JSON, a YAML subset), naming the line of each problem. */
export function parseSpec(text: string): PipelineSpec {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length) {
    const e = doc.errors[0];
    const line = e.linePos?.[0]?.line;
    throw new SpecError(`YAML${line ? ` line ${line}` : ''}: ${e.message.split('\n')[0]}`);
  }
  const v = doc.toJS() as unknown;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new SpecError('pipeline: expected a mapping with name, nodes and edges');
  const o = v as Record<string, unknown>;
  const top = Object.keys(o).find((k) => !['name', 'nodes', 'edges'].includes(k));
  if (top) throw new SpecError(`${top}: unknown field`);
  const nodesRaw = o.nodes ?? [];
  if (!Array.isArray(nodesRaw)) throw new SpecError('nodes: expected a list');
  const seen = new Set<string>();
  const nodes = nodesRaw.map((n, i) => {
    if (!n || typeof n !== 'object') throw new SpecError(`nodes[${i}]: expected a mapping`);
    const r = n as Record<string, unknown>;
    if (typeof r.id !== 'string' || !r.id) throw new SpecError(`nodes[${i}].id: required string`);
    if (typeof r.agent !== 'string' || !r.agent) throw new SpecError(`nodes[${i}].agent: required string`);
    if (seen.has(r.id)) throw new SpecError(`nodes[${i}].id: duplicate id "${r.id}"`);
    seen.add(r.id);
    if (r.params != null && (typeof r.params !== 'object' || Array.isArray(r.params)))
      throw new SpecError(`nodes[${i}].params: expected a mapping`);
    const known = new Set(['id', 'agent', 'params', 'max_attempts', 'cache']);
    const unknown = Object.keys(r).find((k) => !known.has(k));
    if (unknown) throw new SpecError(`nodes[${i}].${unknown}: unknown field`);
    const node: PipelineSpec['nodes'][number] = { id: r.id, agent: r.agent };
    if (r.params) node.params = r.params as Record<string, unknown>;
    if (r.max_attempts !== undefined) {
      if (typeof r.max_attempts !== 'number' || !Number.isInteger(r.max_attempts)) throw new SpecError(`nodes[${i}].max_attempts: expected an integer`);
      node.max_attempts = r.max_attempts;
    }
    if (r.cache !== undefined) {
      if (typeof r.cache !== 'boolean') throw new SpecError(`nodes[${i}].cache: expected true or false`);
      node.cache = r.cache;
    }
    return node;
  });
  const edgesRaw = o.edges ?? [];
  if (!Array.isArray(edgesRaw)) throw new SpecError('edges: expected a list');
  const edges = edgesRaw.map((e, i) => {
    const r = (e ?? {}) as Record<string, unknown>;
    if (typeof r.from !== 'string' || !seen.has(r.from)) throw new SpecError(`edges[${i}].from: unknown node "${String(r.from)}"`);
    if (typeof r.to !== 'string' || !seen.has(r.to)) throw new SpecError(`edges[${i}].to: unknown node "${String(r.to)}"`);
    return { from: r.from, to: r.to };
  });
  return { name: typeof o.name === 'string' ? o.name : 'pipeline', nodes, edges };
}

/** newNodeID returns agent-N, the first such id not taken. */
export function newNodeID(agent: string, taken: Iterable<string>): string {
  const t = new Set(taken);
  for (let i = 1; ; i++) if (!t.has(`${agent}-${i}`)) return `${agent}-${i}`;
}

/** checkParam validates one value against its declaration; it returns a message or null. */
export function checkParam(p: Param, v: unknown): string | null {
  if (v === undefined || v === null || v === '') return p.required && p.default === undefined ? 'required' : null;
  switch (p.type) {
    case 'integer':
    case 'number': {
      if (typeof v !== 'number' || Number.isNaN(v)) return 'must be a number';
      if (p.type === 'integer' && !Number.isInteger(v)) return 'must be a whole number';
      if (p.minimum !== undefined && v < p.minimum) return `must be ≥ ${p.minimum}`;
      if (p.maximum !== undefined && v > p.maximum) return `must be ≤ ${p.maximum}`;
      return null;
    }
    case 'boolean':
      return typeof v === 'boolean' ? null : 'must be true or false';
    case 'string':
      if (typeof v !== 'string') return 'must be text';
      if (p.enum?.length && !p.enum.includes(v)) return `must be one of ${p.enum.join(', ')}`;
      return null;
    case 'array': {
      if (!Array.isArray(v)) return 'must be a list';
      for (const item of v) {
        const m = checkParam({ name: p.name, type: p.items ?? 'string', enum: p.enum }, item);
        if (m) return `item ${JSON.stringify(item)}: ${m}`;
      }
      return null;
    }
    case 'object': {
      if (typeof v !== 'object' || Array.isArray(v)) return 'must be a mapping';
      for (const f of p.fields ?? []) {
        const m = checkParam(f, (v as Record<string, unknown>)[f.name]);
        if (m) return `${f.name}: ${m}`;
      }
      return null;
    }
  }
  return null;
}

/** checkNode returns client-side errors per param of a node (server errors take precedence in the UI). */
export function checkNode(spec: AgentSpec | undefined, params: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of spec?.params ?? []) {
    const m = checkParam(p, params[p.name]);
    if (m) out[p.name] = m;
  }
  return out;
}
