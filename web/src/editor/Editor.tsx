// The pipeline editor page. State lives in hooks (useGraph: the undoable
// graph and React Flow state; useServerData: agents and datasets; history:
// undo/redo); the parts are components (Toolbar, Palette, YAMLPanel,
// NodeInspector). This file wires them and owns load and submit.

import { useCallback, useEffect, useRef, useState, type DragEvent } from 'react';
import { Background, Controls, MiniMap, ReactFlow, ReactFlowProvider, useReactFlow } from '@xyflow/react';
import { api, Problem } from '../api';
import { navigate } from '../ui/router';
import { useTheme } from '../ui/theme';
import { nodeTypes, type AgentFlowNode } from './AgentNode';
import { groupErrors, type ServerErrors } from './errors';
import { useUndoKeys } from './history';
import { NodeInspector } from './NodeInspector';
import { DND_TYPE, Palette } from './Palette';
import { fromSpec, parseSpec, toSpec, toYAML } from './pipeline';
import { templates } from './templates';
import { Toolbar } from './Toolbar';
import { PlanButton } from './PlanButton';
import { useGraph } from './useGraph';
import { useServerData } from './useServerData';
import { YAMLPanel } from './YAMLPanel';
import { rememberSpec } from '../runs/specs';
import { runName } from './runName';
import { useAuth } from '../auth/auth';

type Banner = { kind: 'error' | 'info'; text: string; items?: string[] } | null;

export function EditorPage() {
  return (
    <ReactFlowProvider>
      <Editor />
    </ReactFlowProvider>
  );
}

function Editor() {
  const data = useServerData();
  const { agents, specOf } = data;
  const [serverErrors, setServerErrors] = useState<ServerErrors>({});
  const [banner, setBanner] = useState<Banner>(null);
  const [submitting, setSubmitting] = useState(false);
  const [yamlOpen, setYamlOpen] = useState(false);
  const [paletteCollapsed, setPaletteCollapsed] = useState(false);
  const [inspectorCollapsed, setInspectorCollapsed] = useState(false);
  const flow = useReactFlow<AgentFlowNode>();
  const { theme } = useTheme();
  const { canWrite } = useAuth();
  // the run's name: the pipeline's and the date unless the user typed one (null: automatic)
  const [typedRunName, setTypedRunName] = useState<string | null>(null);
  const [minute, setMinute] = useState(() => new Date());
  useEffect(() => {
    const t = window.setInterval(() => setMinute(new Date()), 30_000);
    return () => clearInterval(t);
  }, []);
  const wrapper = useRef<HTMLDivElement>(null);
  const inspectorRef = useRef<HTMLElement>(null);
  const gs = useGraph(specOf, serverErrors, flow, wrapper);
  const g = gs.graph;
  useUndoKeys(gs.history.undo, gs.history.redo);

  const setParam = useCallback(
    (node: string, name: string, value: unknown) => {
      gs.setParam(node, name, value);
      setServerErrors((s) => {
        if (!s[node]?.[name]) return s;
        const n = { ...s[node] };
        delete n[name];
        return { ...s, [node]: n };
      });
    },
    [gs],
  );

  const onDrop = useCallback(
    (e: DragEvent) => {
      e.preventDefault();
      const agent = e.dataTransfer.getData(DND_TYPE) || e.dataTransfer.getData('text/plain');
      if (!agent || !specOf.has(agent)) return;
      const p = flow.screenToFlowPosition({ x: e.clientX, y: e.clientY });
      gs.addNode(agent, { x: p.x - 100, y: p.y - 30 });
    },
    [flow, gs, specOf],
  );

  // a pipeline loaded before the agents arrive waits for them: its edges' ports and its
  // unknown-agent check need the agents' specs
  const pendingLoad = useRef<{ text: string; source: string } | null>(null);
  const load = useCallback(
    (text: string, source: string) => {
      if (!agents && !data.loadErr) {
        pendingLoad.current = { text, source };
        setBanner({ kind: 'info', text: `Loading ${source} (waiting for the server's agents)…` });
        return true;
      }
      try {
        const spec = parseSpec(text);
        gs.replace(fromSpec(spec, agents ?? []));
        setServerErrors({});
        gs.select(null);
        const unknown = spec.nodes.filter((n) => !specOf.has(n.agent)).map((n) => `${n.id}: unknown agent "${n.agent}"`);
        setBanner(unknown.length ? { kind: 'error', text: `Loaded ${source}, but some agents are not available on this server:`, items: unknown } : { kind: 'info', text: `Loaded ${source}.` });
        gs.fit();
        return true;
      } catch (e) {
        setBanner({ kind: 'error', text: `Could not load ${source}: ${(e as Error).message}` });
        return false;
      }
    },
    [agents, gs, specOf, data.loadErr],
  );
  useEffect(() => {
    const p = pendingLoad.current;
    if (p && (agents || data.loadErr)) {
      pendingLoad.current = null;
      load(p.text, p.source);
    }
  }, [agents, data.loadErr, load]);

  const submit = useCallback(async () => {
    setSubmitting(true);
    setBanner(null);
    try {
      const spec = { ...toSpec(g), name: typedRunName?.trim() || runName(g, new Date(), data.datasets) };
      const res = await api.submit(spec);
      rememberSpec(res.job_id, spec);
      setTypedRunName(null);
      setServerErrors({});
      navigate(`/runs/${encodeURIComponent(res.job_id)}`);
    } catch (e) {
      if (e instanceof Problem) {
        const { byNode, general } = groupErrors(e.errors, g);
        setServerErrors(byNode);
        const first = Object.keys(byNode)[0];
        if (first) gs.select(first);
        const onNodes = Object.entries(byNode).map(
          ([n, fs]) => `${n}: ${Object.keys(fs).map((f) => f || 'node').join(', ')} — fix the marked field${Object.keys(fs).length > 1 ? 's' : ''}`,
        );
        setBanner({ kind: 'error', text: `${e.title}${e.detail ? `: ${e.detail}` : ''}`, items: [...onNodes, ...general] });
      } else setBanner({ kind: 'error', text: `Submit failed: ${(e as Error).message}` });
    } finally {
      setSubmitting(false);
    }
  }, [g, gs, typedRunName, data.datasets]);

  const exportYAML = () => {
    const blob = new Blob([toYAML(toSpec(g))], { type: 'application/yaml' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${g.name || 'pipeline'}.yaml`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };

  // the server's checks run as you edit (debounced); their problems show on the nodes and fields
  const [general, setGeneral] = useState<string[]>([]);
  const [checking, setChecking] = useState(false);
  useEffect(() => {
    if (!g.nodes.length || !agents) {
      setGeneral([]);
      return;
    }
    let stop = false;
    const timer = window.setTimeout(() => {
      setChecking(true);
      api.check(toSpec(g)).then(
        (r) => {
          if (stop) return;
          const { byNode, general } = groupErrors(r.errors ?? [], g);
          setServerErrors(byNode);
          setGeneral(general);
          setChecking(false);
        },
        () => !stop && setChecking(false),
      );
    }, 500);
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [g, agents]);
  const problemCount = Object.values(serverErrors).reduce((n, fs) => n + Object.keys(fs).length, 0) + general.length;

  const sel = gs.selected.nodes.length === 1 ? g.nodes.find((n) => n.id === gs.selected.nodes[0]) : undefined;
  // a newly selected node's settings start at the top
  useEffect(() => {
    if (inspectorRef.current) inspectorRef.current.scrollTop = 0;
  }, [sel?.id]);

  return (
    <div className="editor">
      <Toolbar
        name={g.name}
        onName={gs.setName}
        canUndo={gs.history.canUndo}
        canRedo={gs.history.canRedo}
        onUndo={gs.history.undo}
        onRedo={gs.history.redo}
        empty={!g.nodes.length}
        onLayout={gs.doLayout}
        onTemplate={(id) => {
          const t = templates.find((t) => t.id === id);
          if (t) load(toYAML(t.spec), `template "${t.title}"`);
        }}
        onImport={load}
        onExport={exportYAML}
        yamlOpen={yamlOpen}
        onToggleYAML={() => setYamlOpen((o) => !o)}
        onClear={() => {
          gs.replace({ name: g.name, nodes: [], edges: [] });
          setServerErrors({});
          setBanner(null);
        }}
        submitting={submitting}
        onRun={submit}
        canRun={canWrite}
        runName={typedRunName ?? runName(g, minute, data.datasets)}
        onRunName={setTypedRunName}
        extra={
          g.nodes.length ? (
            <>
              <span className={`check-status ${problemCount ? 'error-text' : 'ok-text'}`} role="status" data-problems={problemCount}>
                {checking ? 'Checking…' : problemCount ? `${problemCount} problem${problemCount > 1 ? 's' : ''} to fix` : 'Checks pass'}
              </span>
              {/* a dry run is a POST /jobs: viewers may not */}
              {canWrite ? <PlanButton spec={() => toSpec(g)} disabled={problemCount > 0} /> : null}
            </>
          ) : null
        }
      />
      {general.length ? (
        <div className="banner error" role="alert">
          <span>The pipeline has problems:</span>
          <ul>
            {general.map((i) => (
              <li key={i}>{i}</li>
            ))}
          </ul>
        </div>
      ) : null}
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
      {data.loadErr ? (
        <div className="banner error" role="alert">
          {data.loadErr}
        </div>
      ) : null}
      {yamlOpen ? <YAMLPanel graph={g} onApply={(t) => load(t, 'YAML')} /> : null}
      <div className={`editor-body${paletteCollapsed ? ' palette-collapsed' : ''}${inspectorCollapsed ? ' inspector-collapsed' : ''}`}>
        <Palette agents={agents} loading={agents === null && !data.loadErr} onAdd={(a) => gs.addNode(a)} collapsed={paletteCollapsed} onToggle={() => setPaletteCollapsed((c) => !c)} />
        <div
          className="canvas"
          ref={wrapper}
          onDragOver={(e) => {
            e.preventDefault();
            e.dataTransfer.dropEffect = 'move';
          }}
          onDrop={onDrop}
          aria-label="Pipeline canvas"
          role="region"
        >
          <ReactFlow
            nodes={gs.rfNodes}
            edges={gs.rfEdges}
            nodeTypes={nodeTypes}
            onNodesChange={gs.onNodesChange}
            onEdgesChange={gs.onEdgesChange}
            onConnect={gs.connect}
            onConnectEnd={(_, st) => {
              // a drop on a handle that isValidConnection refused: say why
              if (st.isValid !== false || !st.fromNode || !st.toNode || !st.fromHandle) return;
              const fromOut = st.fromHandle.type === 'source';
              const c = fromOut
                ? { source: st.fromNode.id, sourceHandle: st.fromHandle.id ?? null, target: st.toNode.id, targetHandle: st.toHandle?.id ?? null }
                : { source: st.toNode.id, sourceHandle: st.toHandle?.id ?? null, target: st.fromNode.id, targetHandle: st.fromHandle.id ?? null };
              const why = gs.problem(c);
              if (why) setBanner({ kind: 'error', text: `Not connected: ${why}.` });
            }}
            isValidConnection={gs.isValidConnection}
            onNodeDragStart={gs.markDragStart}
            deleteKeyCode={['Delete', 'Backspace']}
            colorMode={theme}
            onInit={(inst) => {
              // Fit a restored draft once; an empty canvas keeps its viewport so drops land where they fall.
              if (inst.getNodes().length) inst.fitView({ padding: 0.15, maxZoom: 1 });
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
        <aside className={`inspector${inspectorCollapsed ? ' collapsed' : ''}`} aria-label="Node settings" ref={inspectorRef}>
          <div className="panel-head">
            <button
              type="button"
              className="link small collapse-toggle"
              onClick={() => setInspectorCollapsed((c) => !c)}
              aria-expanded={!inspectorCollapsed}
              aria-controls="inspector-body"
              title={inspectorCollapsed ? 'Show node settings' : 'Hide node settings'}
            >
              {inspectorCollapsed ? '«' : '»'}
              <span className="sr-only">{inspectorCollapsed ? 'Show node settings' : 'Hide node settings'}</span>
            </button>
          </div>
          <div id="inspector-body" hidden={inspectorCollapsed}>
          {sel ? (
            <NodeInspector
              key={sel.id}
              node={sel}
              spec={specOf.get(sel.agent)}
              graph={g}
              specOf={specOf}
              errors={serverErrors[sel.id]}
              datasets={data.datasets}
              canUpload={canWrite}
              onUploaded={data.reloadDatasets}
              onParam={(name, v) => setParam(sel.id, name, v)}
              onRename={(id) => gs.renameNode(sel.id, id)}
              onConnect={(c) => gs.connect(c)}
              onDisconnect={gs.disconnect}
              onDelete={gs.deleteSelection}
            />
          ) : (
            <div className="muted">
              <h2>Node settings</h2>
              <p>Select a node to edit its params.</p>
              <p>
                {g.nodes.length} node{g.nodes.length === 1 ? '' : 's'}, {g.edges.length} edge{g.edges.length === 1 ? '' : 's'}.
              </p>
              {gs.selected.edges.length ? (
                <button type="button" onClick={gs.deleteSelection}>
                  Delete selected connection
                </button>
              ) : null}
            </div>
          )}
          </div>
        </aside>
      </div>
    </div>
  );
}
