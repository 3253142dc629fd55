// The pipeline editor: a palette of agents, a React Flow canvas to drop and
// connect them on (ports are typed; incompatible connections are refused while
// dragging), a param form for the selected node, undo/redo, auto-layout, YAML
// import/export, templates, and submit.

import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent } from 'react';
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  applyEdgeChanges,
  applyNodeChanges,
  useReactFlow,
  type Connection,
  type Edge,
  type EdgeChange,
  type NodeChange,
} from '@xyflow/react';
import { api, Problem, type AgentSpec, type FieldError } from '../api';
import { navigate } from '../ui/router';
import { useTheme } from '../ui/theme';
import { nodeTypes, type AgentFlowNode } from './AgentNode';
import { ParamForm } from './ParamForm';
import { useHistory } from './history';
import {
  canConnect,
  checkNode,
  fromSpec,
  layout,
  newNodeID,
  parseSpec,
  pickHandles,
  portOf,
  toSpec,
  toYAML,
  wouldCycle,
  type Graph,
} from './pipeline';
import { templates } from './templates';
import { rememberSpec } from '../runs/specs';

const DRAFT_KEY = 'whet.editor.draft';
const DND_TYPE = 'application/x-whet-agent';

function loadDraft(): Graph {
  try {
    const s = localStorage.getItem(DRAFT_KEY);
    if (s) {
      const g = JSON.parse(s) as Graph;
      if (Array.isArray(g.nodes) && Array.isArray(g.edges)) return g;
    }
  } catch {
    /* a bad draft is dropped */
  }
  return { name: 'my-pipeline', nodes: [], edges: [] };
}

/** ServerErrors maps node id → field ("" for the node itself) → message. */
type ServerErrors = Record<string, Record<string, string>>;

function groupErrors(errs: FieldError[], g: Graph): { byNode: ServerErrors; general: string[] } {
  const byNode: ServerErrors = {};
  const general: string[] = [];
  for (const e of errs) {
    let node = e.node;
    if (node?.startsWith('#')) node = g.nodes[Number(node.slice(1))]?.id;
    if (node && g.nodes.some((n) => n.id === node)) {
      // fields are paths such as "params.lora.rank": the form shows them on the top-level param
      let field = e.field ?? '';
      let msg = e.message;
      const m = /^params\.([^.[\]]+)(.*)$/.exec(field);
      if (m) {
        field = m[1];
        if (m[2]) msg = `${m[2].replace(/^\./, '')}: ${msg}`;
      } else if (field && field !== 'params') {
        msg = `${field}: ${msg}`;
        field = '';
      } else field = '';
      const cur = (byNode[node] ??= {});
      cur[field] = cur[field] ? `${cur[field]}; ${msg}` : msg;
    }
    else general.push([e.node, e.field, e.message].filter(Boolean).join(': '));
  }
  return { byNode, general };
}

export function EditorPage() {
  return (
    <ReactFlowProvider>
      <Editor />
    </ReactFlowProvider>
  );
}

function Editor() {
  const [agents, setAgents] = useState<AgentSpec[] | null>(null);
  const [loadErr, setLoadErr] = useState<string>('');
  const [datasets, setDatasets] = useState<string[]>([]);
  const hist = useHistory<Graph>(loadDraft);
  const g = hist.value;
  const [serverErrors, setServerErrors] = useState<ServerErrors>({});
  const [banner, setBanner] = useState<{ kind: 'error' | 'info'; text: string; items?: string[] } | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const [yamlOpen, setYamlOpen] = useState(false);
  const [filter, setFilter] = useState('');
  const flow = useReactFlow();
  const { theme } = useTheme();
  const wrapper = useRef<HTMLDivElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    api.agents().then(setAgents, (e: Error) => setLoadErr(`Could not load agents: ${e.message}`));
    api.datasets().then(
      (ds) => setDatasets(ds.map((d) => d.dataset_id)),
      () => {},
    );
  }, []);
  useEffect(() => {
    localStorage.setItem(DRAFT_KEY, JSON.stringify(g));
  }, [g]);

  const specOf = useMemo(() => new Map((agents ?? []).map((a) => [a.name, a])), [agents]);

  // React Flow's own node state (measured sizes, selection, dragging) lives in
  // rfNodes; the pipeline itself (ids, agents, params, positions) lives in the
  // undoable graph, and rfNodes follows it.
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

  const isValidConnection = useCallback(
    (c: Connection | Edge) => {
      const src = g.nodes.find((n) => n.id === c.source);
      const dst = g.nodes.find((n) => n.id === c.target);
      if (!src || !dst) return false;
      const from = portOf(specOf.get(src.agent), c.sourceHandle, 'out');
      const to = portOf(specOf.get(dst.agent), c.targetHandle, 'in');
      if (!canConnect(from, to)) return false;
      if (g.edges.some((e) => e.source === c.source && e.target === c.target)) return false;
      return !wouldCycle(g.edges, c.source!, c.target!);
    },
    [g, specOf],
  );

  const connect = useCallback(
    (c: Connection) => {
      if (!isValidConnection(c)) return;
      hist.update((cur) => ({
        ...cur,
        edges: [...cur.edges, { id: `${c.source}->${c.target}`, source: c.source!, target: c.target!, sourceHandle: c.sourceHandle, targetHandle: c.targetHandle }],
      }));
    },
    [hist, isValidConnection],
  );

  const addNode = useCallback(
    (agent: string, position?: { x: number; y: number }) => {
      const spec = specOf.get(agent);
      let id = '';
      hist.update((cur) => {
        id = newNodeID(agent, cur.nodes.map((n) => n.id));
        let pos = position;
        if (!pos) {
          const r = wrapper.current?.getBoundingClientRect();
          pos = r ? flow.screenToFlowPosition({ x: r.left + r.width / 2, y: r.top + r.height / 2 }) : { x: 0, y: 0 };
          pos = { x: pos.x + (cur.nodes.length % 5) * 20, y: pos.y + (cur.nodes.length % 5) * 20 };
        }
        const params: Record<string, unknown> = {};
        for (const p of spec?.params ?? []) if (p.required && p.default !== undefined) params[p.name] = p.default;
        return { ...cur, nodes: [...cur.nodes, { id, agent, params, position: pos }] };
      });
      select(id);
    },
    [hist, specOf, flow, select],
  );

  const onDrop = useCallback(
    (e: DragEvent) => {
      e.preventDefault();
      const agent = e.dataTransfer.getData(DND_TYPE) || e.dataTransfer.getData('text/plain');
      if (!agent || !specOf.has(agent)) return;
      const p = flow.screenToFlowPosition({ x: e.clientX, y: e.clientY });
      addNode(agent, { x: p.x - 100, y: p.y - 30 });
    },
    [flow, addNode, specOf],
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
      setServerErrors((s) => {
        if (!s[node]?.[name]) return s;
        const n = { ...s[node] };
        delete n[name];
        return { ...s, [node]: n };
      });
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

  const doLayout = useCallback(() => {
    hist.update((cur) => layout(cur));
    setTimeout(() => flow.fitView({ padding: 0.2, maxZoom: 1, duration: 200 }), 50);
  }, [hist, flow]);

  const load = useCallback(
    (text: string, source: string) => {
      try {
        const spec = parseSpec(text);
        const ng = fromSpec(spec, agents ?? []);
        hist.update(() => ng);
        setServerErrors({});
        select(null);
        const unknown = spec.nodes.filter((n) => !specOf.has(n.agent)).map((n) => `${n.id}: unknown agent "${n.agent}"`);
        setBanner(unknown.length ? { kind: 'error', text: `Loaded ${source}, but some agents are not available on this server:`, items: unknown } : { kind: 'info', text: `Loaded ${source}.` });
        setTimeout(() => flow.fitView({ padding: 0.2, maxZoom: 1 }), 50);
        return true;
      } catch (e) {
        setBanner({ kind: 'error', text: `Could not load ${source}: ${(e as Error).message}` });
        return false;
      }
    },
    [agents, hist, specOf, flow, select],
  );

  const submit = useCallback(async () => {
    setSubmitting(true);
    setBanner(null);
    try {
      const spec = toSpec(g);
      const res = await api.submit(spec);
      rememberSpec(res.job_id, spec);
      setServerErrors({});
      navigate(`/runs/${encodeURIComponent(res.job_id)}`);
    } catch (e) {
      if (e instanceof Problem) {
        const { byNode, general } = groupErrors(e.errors, g);
        setServerErrors(byNode);
        const first = Object.keys(byNode)[0];
        if (first) select(first);
        const onNodes = Object.entries(byNode).map(
          ([n, fs]) => `${n}: ${Object.keys(fs).map((f) => f || 'node').join(', ')} — fix the marked field${Object.keys(fs).length > 1 ? 's' : ''}`,
        );
        setBanner({ kind: 'error', text: `${e.title}${e.detail ? `: ${e.detail}` : ''}`, items: [...onNodes, ...general] });
      } else setBanner({ kind: 'error', text: `Submit failed: ${(e as Error).message}` });
    } finally {
      setSubmitting(false);
    }
  }, [g, select]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (t.closest('input, textarea, select, [contenteditable]')) return;
      const mod = e.ctrlKey || e.metaKey;
      if (mod && e.key.toLowerCase() === 'z' && !e.shiftKey) {
        e.preventDefault();
        hist.undo();
      } else if (mod && (e.key.toLowerCase() === 'y' || (e.key.toLowerCase() === 'z' && e.shiftKey))) {
        e.preventDefault();
        hist.redo();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [hist]);

  const exportYAML = () => {
    const blob = new Blob([toYAML(toSpec(g))], { type: 'application/yaml' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${g.name || 'pipeline'}.yaml`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };

  const sel = selected.nodes.length === 1 ? g.nodes.find((n) => n.id === selected.nodes[0]) : undefined;
  const categories = useMemo(() => {
    const m = new Map<string, AgentSpec[]>();
    for (const a of agents ?? []) {
      if (filter && !`${a.name} ${a.description}`.toLowerCase().includes(filter.toLowerCase())) continue;
      const c = a.category || 'other';
      m.set(c, [...(m.get(c) ?? []), a]);
    }
    return [...m.entries()];
  }, [agents, filter]);

  return (
    <div className="editor">
      <div className="toolbar" role="toolbar" aria-label="Pipeline actions">
        <label className="inline">
          <span>Name</span>
          <input value={g.name} onChange={(e) => hist.update((c) => ({ ...c, name: e.target.value }), 'name')} aria-label="Pipeline name" />
        </label>
        <button type="button" onClick={hist.undo} disabled={!hist.canUndo} aria-keyshortcuts="Control+Z" title="Undo (Ctrl+Z)">
          Undo
        </button>
        <button type="button" onClick={hist.redo} disabled={!hist.canRedo} aria-keyshortcuts="Control+Shift+Z" title="Redo (Ctrl+Shift+Z)">
          Redo
        </button>
        <button type="button" onClick={doLayout} disabled={!g.nodes.length}>
          Auto-layout
        </button>
        <label className="inline">
          <span className="sr-only">Start from a template</span>
          <select
            aria-label="Start from a template"
            value=""
            onChange={(e) => {
              const t = templates.find((t) => t.id === e.target.value);
              if (t) load(toYAML(t.spec), `template "${t.title}"`);
            }}
          >
            <option value="">Templates…</option>
            {templates.map((t) => (
              <option key={t.id} value={t.id} title={t.description}>
                {t.title}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => fileInput.current?.click()}>
          Import YAML
        </button>
        <input
          ref={fileInput}
          type="file"
          accept=".yaml,.yml,.json,application/yaml,application/json"
          hidden
          aria-label="Import pipeline file"
          onChange={async (e) => {
            const f = e.target.files?.[0];
            if (f) load(await f.text(), f.name);
            e.target.value = '';
          }}
        />
        <button type="button" onClick={exportYAML} disabled={!g.nodes.length}>
          Export YAML
        </button>
        <button type="button" onClick={() => setYamlOpen((o) => !o)} aria-expanded={yamlOpen} aria-controls="yaml-panel">
          {yamlOpen ? 'Hide YAML' : 'Edit as YAML'}
        </button>
        <button
          type="button"
          onClick={() => {
            hist.update(() => ({ name: g.name, nodes: [], edges: [] }));
            setServerErrors({});
            setBanner(null);
          }}
          disabled={!g.nodes.length}
        >
          Clear
        </button>
        <span className="spacer" />
        <button type="button" className="primary" onClick={submit} disabled={submitting || !g.nodes.length}>
          {submitting ? 'Submitting…' : 'Run pipeline'}
        </button>
      </div>
      {banner ? (
        <div className={`banner ${banner.kind}`} role={banner.kind === 'error' ? 'alert' : 'status'}>
          <span>{banner.text}</span>
          {banner.items?.length ? (
            <ul>
              {banner.items.map((i) => (
                <li key={i}>{i}</li>
              ))}
            </ul>
          ) : null}
          <button type="button" className="link" onClick={() => setBanner(null)} aria-label="Dismiss message">
            ✕
          </button>
        </div>
      ) : null}
      {loadErr ? (
        <div className="banner error" role="alert">
          {loadErr}
        </div>
      ) : null}
      {yamlOpen ? <YAMLPanel graph={g} onApply={(t) => load(t, 'YAML')} /> : null}
      <div className="editor-body">
        <aside className="palette" aria-label="Agents">
          <h2>Agents</h2>
          <input type="search" placeholder="Filter agents" aria-label="Filter agents" value={filter} onChange={(e) => setFilter(e.target.value)} />
          {agents === null && !loadErr ? <p className="muted">Loading…</p> : null}
          {categories.map(([cat, list]) => (
            <section key={cat}>
              <h3>{cat}</h3>
              <ul>
                {list.map((a) => (
                  <li key={a.name}>
                    <button
                      type="button"
                      className="palette-item"
                      draggable
                      data-agent={a.name}
                      onDragStart={(e) => {
                        e.dataTransfer.setData(DND_TYPE, a.name);
                        e.dataTransfer.setData('text/plain', a.name);
                        e.dataTransfer.effectAllowed = 'move';
                      }}
                      onClick={() => addNode(a.name)}
                      title={`${a.description}\nDrag onto the canvas, or press Enter to add.`}
                      aria-label={`Add ${a.name} agent: ${a.description}`}
                    >
                      <span className="palette-name">
                        {a.name}
                        {a.gpu ? <span className="badge">GPU</span> : null}
                      </span>
                      <span className="palette-ports">
                        {(a.inputs ?? []).map((p) => p.type).join(', ') || '—'} → {(a.outputs ?? []).map((p) => p.type).join(', ') || '—'}
                      </span>
                    </button>
                  </li>
                ))}
              </ul>
            </section>
          ))}
        </aside>
        <div className="canvas" ref={wrapper} onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = 'move'; }} onDrop={onDrop} aria-label="Pipeline canvas" role="region">
          <ReactFlow
            nodes={rfNodes}
            edges={rfEdges}
            nodeTypes={nodeTypes}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={connect}
            isValidConnection={isValidConnection}
            onNodeDragStart={() => hist.update((c) => ({ ...c }))}
            deleteKeyCode={['Delete', 'Backspace']}
            colorMode={theme}
            onInit={(inst) => {
              // Fit a restored draft once; an empty canvas keeps its viewport so drops land where they fall.
              if (inst.getNodes().length) inst.fitView({ padding: 0.2, maxZoom: 1 });
            }}
            minZoom={0.2}
            maxZoom={2}
            proOptions={{ hideAttribution: true }}
          >
            <Background />
            <Controls />
            <MiniMap pannable zoomable ariaLabel="Pipeline overview" />
          </ReactFlow>
          {!g.nodes.length ? (
            <div className="canvas-empty">
              <p>Drag agents here from the palette (or press Enter on one), or start from a template.</p>
            </div>
          ) : null}
        </div>
        <aside className="inspector" aria-label="Node settings">
          {sel ? (
            <NodeInspector
              key={sel.id}
              node={sel}
              spec={specOf.get(sel.agent)}
              graph={g}
              specOf={specOf}
              errors={serverErrors[sel.id]}
              datasets={datasets}
              onParam={(name, v) => setParam(sel.id, name, v)}
              onRename={(id) => renameNode(sel.id, id)}
              onConnect={(c) => connect(c)}
              onDisconnect={(id) => hist.update((cur) => ({ ...cur, edges: cur.edges.filter((e) => e.id !== id) }))}
              onDelete={deleteSelection}
            />
          ) : (
            <div className="muted">
              <h2>Node settings</h2>
              <p>Select a node to edit its params.</p>
              <p>
                {g.nodes.length} node{g.nodes.length === 1 ? '' : 's'}, {g.edges.length} edge{g.edges.length === 1 ? '' : 's'}.
              </p>
              {selected.edges.length ? (
                <button type="button" onClick={deleteSelection}>
                  Delete selected connection
                </button>
              ) : null}
            </div>
          )}
        </aside>
      </div>
    </div>
  );
}

function YAMLPanel({ graph, onApply }: { graph: Graph; onApply: (text: string) => boolean }) {
  const current = useMemo(() => toYAML(toSpec(graph)), [graph]);
  const [text, setText] = useState(current);
  const [dirty, setDirty] = useState(false);
  useEffect(() => {
    if (!dirty) setText(current);
  }, [current, dirty]);
  return (
    <section id="yaml-panel" className="yaml-panel" aria-label="Pipeline YAML">
      <label htmlFor="yaml-text">Pipeline as YAML (the spec `whet run` reads)</label>
      <textarea
        id="yaml-text"
        spellCheck={false}
        value={text}
        rows={12}
        onChange={(e) => {
          setText(e.target.value);
          setDirty(true);
        }}
      />
      <div className="row">
        <button type="button" disabled={!dirty} onClick={() => onApply(text) && setDirty(false)}>
          Apply YAML
        </button>
        <button type="button" disabled={!dirty} onClick={() => { setText(current); setDirty(false); }}>
          Revert
        </button>
      </div>
    </section>
  );
}

interface InspectorProps {
  node: Graph['nodes'][number];
  spec?: AgentSpec;
  graph: Graph;
  specOf: Map<string, AgentSpec>;
  errors?: Record<string, string>;
  datasets: string[];
  onParam: (name: string, v: unknown) => void;
  onRename: (id: string) => boolean;
  onConnect: (c: Connection) => void;
  onDisconnect: (edgeID: string) => void;
  onDelete: () => void;
}

function NodeInspector({ node, spec, graph, specOf, errors, datasets, onParam, onRename, onConnect, onDisconnect, onDelete }: InspectorProps) {
  const [id, setID] = useState(node.id);
  const [idErr, setIDErr] = useState('');
  const incoming = graph.edges.filter((e) => e.target === node.id);
  const outgoing = graph.edges.filter((e) => e.source === node.id);
  const candidates = graph.nodes.filter((n) => {
    if (n.id === node.id || incoming.some((e) => e.source === n.id)) return false;
    const h = pickHandles(specOf.get(n.agent), spec);
    return canConnect(portOf(specOf.get(n.agent), h.sourceHandle, 'out'), portOf(spec, h.targetHandle, 'in')) && !wouldCycle(graph.edges, n.id, node.id);
  });
  const nodeErr = errors?.[''];
  return (
    <div className="node-inspector">
      <h2>
        {node.id} <span className="muted small">({node.agent})</span>
      </h2>
      {spec ? <p className="help">{spec.description}</p> : <p className="error-text">Unknown agent “{node.agent}”: not on this server.</p>}
      {nodeErr ? (
        <p className="error-text" role="alert">
          {nodeErr}
        </p>
      ) : null}
      <form
        className="field"
        onSubmit={(e) => {
          e.preventDefault();
          if (id === node.id) return;
          if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(id)) return setIDErr('must start with a letter; letters, digits, _ and - only');
          if (!onRename(id)) setIDErr('id already used');
          else setIDErr('');
        }}
      >
        <label htmlFor="node-id">Node id</label>
        <div className="row">
          <input id="node-id" value={id} onChange={(e) => setID(e.target.value)} aria-invalid={idErr ? true : undefined} aria-describedby={idErr ? 'node-id-err' : undefined} />
          <button type="submit" disabled={id === node.id}>
            Rename
          </button>
        </div>
        {idErr ? (
          <p id="node-id-err" className="error-text" role="alert">
            {idErr}
          </p>
        ) : null}
      </form>
      <h3>Params</h3>
      <ParamForm
        params={spec?.params ?? []}
        values={node.params}
        errors={errors}
        onChange={onParam}
        idPrefix={`param-${node.id}`}
        suggestions={{ dataset: datasets }}
      />
      {Object.entries(errors ?? {})
        .filter(([f]) => f && !(spec?.params ?? []).some((p) => p.name === f))
        .map(([f, m]) => (
          <p key={f} className="error-text" role="alert">
            {f}: {m}
          </p>
        ))}
      <h3>Connections</h3>
      <ul className="conn-list">
        {incoming.map((e) => (
          <li key={e.id}>
            ← {e.source}{' '}
            <button type="button" className="link small" onClick={() => onDisconnect(e.id)} aria-label={`Disconnect ${e.source} from ${node.id}`}>
              remove
            </button>
          </li>
        ))}
        {outgoing.map((e) => (
          <li key={e.id}>
            → {e.target}{' '}
            <button type="button" className="link small" onClick={() => onDisconnect(e.id)} aria-label={`Disconnect ${node.id} from ${e.target}`}>
              remove
            </button>
          </li>
        ))}
        {!incoming.length && !outgoing.length ? <li className="muted">none</li> : null}
      </ul>
      {candidates.length ? (
        <label className="field">
          <span>Add input from</span>
          <select
            value=""
            onChange={(e) => {
              const src = graph.nodes.find((n) => n.id === e.target.value);
              if (!src) return;
              onConnect({ source: src.id, target: node.id, ...pickHandles(specOf.get(src.agent), spec) } as Connection);
            }}
          >
            <option value="">— choose a node —</option>
            {candidates.map((c) => (
              <option key={c.id} value={c.id}>
                {c.id} ({c.agent})
              </option>
            ))}
          </select>
        </label>
      ) : null}
      <button type="button" className="danger" onClick={onDelete}>
        Delete node
      </button>
    </div>
  );
}
