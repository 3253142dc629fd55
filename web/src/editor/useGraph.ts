// useGraph holds the pipeline being edited: the undoable graph (ids, agents,
// params, positions) and React Flow's node and edge state (measured sizes,
// selection, dragging) that follows it, with every edit the editor offers.

import { useCallback, useEffect, useMemo, useRef, useState, type RefObject } from 'react';
import { applyEdgeChanges, applyNodeChanges, type Connection, type Edge, type EdgeChange, type NodeChange, type ReactFlowInstance } from '@xyflow/react';
import type { AgentSpec } from '../api';
import type { AgentFlowNode } from './AgentNode';
import { useHistory } from './history';
import { loadDraft, saveDraft } from './draft';
import type { ServerErrors } from './errors';
import { canConnect, checkNode, layout, newNodeID, portOf, wouldCycle, type Graph } from './pipeline';

/** connectionProblem says why a connection is refused, or '' when it is allowed. */
export function connectionProblem(g: Graph, specOf: Map<string, AgentSpec>, c: Connection | Edge): string {
  const src = g.nodes.find((n) => n.id === c.source);
  const dst = g.nodes.find((n) => n.id === c.target);
  if (!src || !dst) return 'both ends must be nodes';
  if (src.id === dst.id) return 'a node cannot feed itself';
  const from = portOf(specOf.get(src.agent), c.sourceHandle, 'out');
  const to = portOf(specOf.get(dst.agent), c.targetHandle, 'in');
  if (!from) return `${src.id} has no output here`;
  if (!to) return `${dst.id} has no input here`;
  if (!canConnect(from, to)) return `${src.id} gives a ${from.type}, but ${dst.id}'s input ${to.name || to.type} takes a ${to.type}`;
  if (g.edges.some((e) => e.source === c.source && e.target === c.target)) return `${src.id} already feeds ${dst.id}`;
  if (wouldCycle(g.edges, c.source!, c.target!)) return `${dst.id} already feeds ${src.id}: that would make a cycle`;
  return '';
}

export function useGraph(specOf: Map<string, AgentSpec>, serverErrors: ServerErrors, flow: ReactFlowInstance<AgentFlowNode>, wrapper: RefObject<HTMLDivElement | null>) {
  const hist = useHistory<Graph>(loadDraft);
  const g = hist.value;
  useEffect(() => saveDraft(g, specOf), [g, specOf]);
  // the graph as last rendered, for ids chosen before an update (React may run the updater later)
  const latest = useRef(g);
  latest.current = g;

  const [rfNodes, setRfNodes] = useState<AgentFlowNode[]>([]);
  const [rfEdges, setRfEdges] = useState<Edge[]>([]);
  const selectNext = useRef<string | null>(null);
  useEffect(() => {
    // read now: the updater runs later, after selectNext is cleared below
    const want = selectNext.current && g.nodes.some((n) => n.id === selectNext.current) ? selectNext.current : null;
    setRfNodes((prev) => {
      const old = new Map(prev.map((n) => [n.id, n]));
      return g.nodes.map((n) => {
        const spec = specOf.get(n.agent);
        const errs = { ...checkNode(spec, n.params), ...(serverErrors[n.id] ?? {}) };
        const o = old.get(n.id);
        return {
          ...(o ?? {}),
          id: n.id,
          type: 'agent' as const,
          position: n.position,
          selected: want ? n.id === want : (o?.selected ?? false),
          data: { agent: n.agent, spec, errorCount: Object.keys(errs).length },
        };
      });
    });
    if (selectNext.current && g.nodes.some((n) => n.id === selectNext.current)) {
      setRfEdges((es) => es.map((e) => (e.selected ? { ...e, selected: false } : e)));
      selectNext.current = null;
    }
  }, [g.nodes, specOf, serverErrors]);
  useEffect(() => {
    setRfEdges((prev) => {
      const old = new Map(prev.map((e) => [e.id, e]));
      return g.edges.map((e) => ({ ...(old.get(e.id) ?? {}), ...e }));
    });
  }, [g.edges]);

  const select = useCallback((id: string | null) => {
    selectNext.current = id;
    setRfNodes((ns) => ns.map((n) => ({ ...n, selected: n.id === id })));
    setRfEdges((es) => es.map((e) => (e.selected ? { ...e, selected: false } : e)));
  }, []);
  const selected = useMemo(
    () => ({ nodes: rfNodes.filter((n) => n.selected).map((n) => n.id), edges: rfEdges.filter((e) => e.selected).map((e) => e.id) }),
    [rfNodes, rfEdges],
  );

  const onNodesChange = useCallback(
    (changes: NodeChange<AgentFlowNode>[]) => {
      setRfNodes((ns) => applyNodeChanges(changes, ns));
      const moves = changes.filter((c) => (c.type === 'position' && c.position) || c.type === 'remove');
      if (!moves.length) return;
      const removing = moves.some((c) => c.type === 'remove');
      hist.update(
        (cur) => {
          const gone = new Set(moves.filter((c) => c.type === 'remove').map((c) => (c as { id: string }).id));
          const pos = new Map(moves.flatMap((c) => (c.type === 'position' && c.position ? [[c.id, c.position] as const] : [])));
          const nodes = cur.nodes.filter((n) => !gone.has(n.id)).map((n) => (pos.has(n.id) ? { ...n, position: pos.get(n.id)! } : n));
          const edges = removing ? cur.edges.filter((e) => !gone.has(e.source) && !gone.has(e.target)) : cur.edges;
          return { ...cur, nodes, edges };
        },
        removing ? undefined : null,
      );
    },
    [hist],
  );
  const onEdgesChange = useCallback(
    (changes: EdgeChange[]) => {
      setRfEdges((es) => applyEdgeChanges(changes, es));
      const rm = changes.filter((c) => c.type === 'remove').map((c) => (c as { id: string }).id);
      if (rm.length) hist.update((cur) => ({ ...cur, edges: cur.edges.filter((e) => !rm.includes(e.id)) }));
    },
    [hist],
  );

  const problem = useCallback((c: Connection | Edge) => connectionProblem(g, specOf, c), [g, specOf]);
  const isValidConnection = useCallback((c: Connection | Edge) => !problem(c), [problem]);

  const connect = useCallback(
    (c: Connection) => {
      if (problem(c)) return false;
      hist.update((cur) => ({
        ...cur,
        edges: [...cur.edges, { id: `${c.source}->${c.target}`, source: c.source!, target: c.target!, sourceHandle: c.sourceHandle, targetHandle: c.targetHandle }],
      }));
      return true;
    },
    [hist, problem],
  );
  const disconnect = useCallback((id: string) => hist.update((cur) => ({ ...cur, edges: cur.edges.filter((e) => e.id !== id) })), [hist]);

  const addNode = useCallback(
    (agent: string, position?: { x: number; y: number }) => {
      const spec = specOf.get(agent);
      // The id is chosen here, not in the updater: React may call the updater after select(id) below
      // (when other updates are pending), which then selected nothing.
      const id = newNodeID(agent, latest.current.nodes.map((n) => n.id));
      hist.update((cur) => {
        // added twice before a render: the second gets the next free id
        const nid = cur.nodes.some((n) => n.id === id) ? newNodeID(agent, cur.nodes.map((n) => n.id)) : id;
        let pos = position;
        if (!pos) {
          // nodes added without a drop point go right of the rightmost node, so they never stack
          const r = wrapper.current?.getBoundingClientRect();
          const centre = r ? flow.screenToFlowPosition({ x: r.left + r.width / 2, y: r.top + r.height / 3 }) : { x: 0, y: 0 };
          const right = cur.nodes.length ? Math.max(...cur.nodes.map((n) => n.position.x)) : null;
          pos = right === null ? centre : { x: right + 260, y: cur.nodes[cur.nodes.length - 1].position.y };
        }
        const params: Record<string, unknown> = {};
        for (const p of spec?.params ?? []) if (p.required && p.default !== undefined) params[p.name] = p.default;
        return { ...cur, nodes: [...cur.nodes, { id: nid, agent, params, position: pos }] };
      });
      select(id);
      return id;
    },
    [hist, specOf, flow, select, wrapper],
  );

  const setParam = useCallback(
    (node: string, name: string, value: unknown) => {
      hist.update(
        (cur) => ({
          ...cur,
          nodes: cur.nodes.map((n) => {
            if (n.id !== node) return n;
            const params = { ...n.params };
            if (value === undefined) delete params[name];
            else params[name] = value;
            return { ...n, params };
          }),
        }),
        `param:${node}:${name}`,
      );
    },
    [hist],
  );

  const renameNode = useCallback(
    (oldID: string, newID: string) => {
      if (!newID || g.nodes.some((n) => n.id === newID)) return false;
      hist.update((cur) => ({
        ...cur,
        nodes: cur.nodes.map((n) => (n.id === oldID ? { ...n, id: newID } : n)),
        edges: cur.edges.map((e) => {
          const source = e.source === oldID ? newID : e.source;
          const target = e.target === oldID ? newID : e.target;
          return { ...e, source, target, id: `${source}->${target}` };
        }),
      }));
      select(newID);
      return true;
    },
    [g.nodes, hist, select],
  );

  const deleteSelection = useCallback(() => {
    if (!selected.nodes.length && !selected.edges.length) return;
    hist.update((cur) => ({
      ...cur,
      nodes: cur.nodes.filter((n) => !selected.nodes.includes(n.id)),
      edges: cur.edges.filter((e) => !selected.edges.includes(e.id) && !selected.nodes.includes(e.source) && !selected.nodes.includes(e.target)),
    }));
    select(null);
  }, [hist, selected, select]);

  const fit = useCallback(() => setTimeout(() => flow.fitView({ padding: 0.15, maxZoom: 1, duration: 200 }), 50), [flow]);
  const doLayout = useCallback(() => {
    const r = wrapper.current?.getBoundingClientRect();
    hist.update((cur) => layout(cur, r ? { width: r.width, height: r.height } : undefined));
    fit();
  }, [hist, fit, wrapper]);

  const replace = useCallback((ng: Graph) => hist.update(() => ng), [hist]);
  const setName = useCallback((name: string) => hist.update((c) => ({ ...c, name }), 'name'), [hist]);
  const markDragStart = useCallback(() => hist.update((c) => ({ ...c })), [hist]);

  return {
    graph: g,
    history: { undo: hist.undo, redo: hist.redo, canUndo: hist.canUndo, canRedo: hist.canRedo },
    rfNodes,
    rfEdges,
    selected,
    select,
    onNodesChange,
    onEdgesChange,
    isValidConnection,
    problem,
    connect,
    disconnect,
    addNode,
    setParam,
    renameNode,
    deleteSelection,
    doLayout,
    fit,
    replace,
    setName,
    markDragStart,
  };
}
