// One run: its DAG coloured by live node status, progress and ETA per node,
// live training charts, the log stream, cancel and re-run, and the reports
// its nodes produced.

import { useEffect, useMemo, useRef, useState } from 'react';
import { ReactFlow, ReactFlowProvider, Background, Controls, applyNodeChanges, type Edge, type NodeChange } from '@xyflow/react';
import { api, Problem, type AgentSpec, type Artifact, type Job, type PipelineSpec } from '../api';
import { nodeTypes, type AgentFlowNode } from '../editor/AgentNode';
import { fromSpec, toYAML } from '../editor/pipeline';
import { LineChart, SmoothingSlider, type Series } from '../ui/charts';
import { between, fmtAgo, fmtDate, fmtDuration, fmtETA, fmtNum } from '../ui/format';
import { ReportView } from '../ui/ReportView';
import { Link, navigate } from '../ui/router';
import { useTheme } from '../ui/theme';
import { StatusBadge } from './RunsPage';
import { TERMINAL, useJobStream, type LogLine } from './stream';
import { rememberSpec, specOfJob } from './specs';
import { withToken } from '../auth/session';
import { useAuth } from '../auth/auth';
import { ContaminationView, RunSummary, type Contamination } from './RunSummary';

const DRAFT_KEY = 'whet.editor.draft';

export function RunPage({ id }: { id: string }) {
  const [job, setJob] = useState<Job | null>(null);
  const [err, setErr] = useState('');
  const [agents, setAgents] = useState<AgentSpec[] | null>(null);
  const { canWrite } = useAuth();
  const [now, setNow] = useState(Date.now());
  const [busy, setBusy] = useState('');
  const [logNode, setLogNode] = useState('');
  const { state, conn, reconnects } = useJobStream(id);

  useEffect(() => {
    api.agents().then(setAgents, () => setAgents([]));
  }, []);

  // Poll the job while it runs; a node or status event triggers a refresh too.
  const lastRefresh = useRef(0);
  const refresh = useRef<() => void>(() => {});
  useEffect(() => {
    let stop = false;
    let timer = 0;
    const load = () => {
      clearTimeout(timer);
      lastRefresh.current = Date.now();
      api.job(id).then(
        (j) => {
          if (stop) return;
          setJob(j);
          setErr('');
          setNow(Date.now());
          if (!TERMINAL.has(j.status)) timer = window.setTimeout(load, 2000);
        },
        (e: Error) => {
          if (stop) return;
          setErr(e instanceof Problem && e.status === 404 ? `No run with id ${id}.` : e.message);
          timer = window.setTimeout(load, 5000);
        },
      );
    };
    refresh.current = load;
    load();
    const tick = window.setInterval(() => setNow(Date.now()), 1000);
    return () => {
      stop = true;
      clearTimeout(timer);
      clearInterval(tick);
    };
  }, [id]);
  const nodeEvents = Object.values(state.nodeStatus).join() + (state.status ?? '');
  useEffect(() => {
    if (nodeEvents) refresh.current();
  }, [nodeEvents]);

  const known = useMemo(() => (job ? specOfJob(job) : null), [job]);
  const spec = known?.spec ?? null;
  const status = (job && TERMINAL.has(job.status) ? job.status : state.status) ?? job?.status ?? '…';
  const nodeStatus = (nid: string) => state.nodeStatus[nid] ?? job?.nodes?.find((n) => n.id === nid)?.status ?? 'pending';
  const finished = TERMINAL.has(status);

  const cancel = async () => {
    if (!window.confirm('Cancel this run? Running nodes stop; finished outputs are kept.')) return;
    setBusy('cancel');
    try {
      await api.cancel(id);
      refresh.current();
    } catch (e) {
      setErr(`Cancel failed: ${(e as Error).message}`);
    } finally {
      setBusy('');
    }
  };
  const rerun = async () => {
    if (!spec) return;
    if (!window.confirm('Run this pipeline again from the start, ignoring cached results?')) return;
    setBusy('rerun');
    try {
      // Re-run means run again: every node ignores the cache of identical earlier runs.
      const again = { ...spec, nodes: spec.nodes.map((n) => ({ ...n, cache: false })) };
      const r = await api.submit(again);
      rememberSpec(r.job_id, again);
      navigate(`/runs/${encodeURIComponent(r.job_id)}`);
    } catch (e) {
      setErr(`Re-run failed: ${(e as Error).message}`);
    } finally {
      setBusy('');
    }
  };
  const openInEditor = () => {
    if (!spec) return;
    localStorage.setItem(DRAFT_KEY, JSON.stringify(fromSpec(spec, agents ?? [])));
    navigate('/');
  };

  if (!job)
    return (
      <div className="page">
        <h1>Run {id}</h1>
        {err ? (
          <div className="banner error" role="alert">
            {err}
          </div>
        ) : (
          <p className="muted">Loading…</p>
        )}
      </div>
    );

  const dur = between(job.started_at, job.finished_at, now);
  return (
    <div className="page run-page" data-job-id={id} data-status={status}>
      <div className="page-head">
        <div>
          <p className="crumbs">
            <Link to="/runs">Runs</Link> /
          </p>
          <h1>
            {job.name || id} <StatusBadge status={status} />
          </h1>
          <p className="muted small">
            <span className="mono">{id}</span> · created <time title={fmtDate(job.created_at)}>{fmtAgo(job.created_at, now)}</time>
          </p>
        </div>
        <div className="row">
          {!finished && canWrite ? (
            <button type="button" className="danger" onClick={cancel} disabled={!!busy}>
              {busy === 'cancel' ? 'Cancelling…' : 'Cancel run'}
            </button>
          ) : null}
          {canWrite ? (
            <button
              type="button"
              onClick={rerun}
              disabled={!!busy || !spec || !known?.complete}
              title={known?.complete ? 'Run the same pipeline again, ignoring cached results' : 'This run was submitted elsewhere; the server does not return its edges'}
            >
              {busy === 'rerun' ? 'Starting…' : 'Re-run'}
            </button>
          ) : null}
          <button type="button" onClick={openInEditor} disabled={!spec}>
            Open in editor
          </button>
          {status === 'succeeded' && job.nodes?.some((n) => n.outputs?.some((o) => o.type === 'model')) ? (
            <Link className="button" to={`/playground?run=${encodeURIComponent(id)}`}>
              Open in playground
            </Link>
          ) : null}
        </div>
      </div>
      {err ? (
        <div className="banner error" role="alert">
          {err}
        </div>
      ) : null}
      {!job.error && state.error ? (
        <div className="banner error" role="alert">
          {state.error}
        </div>
      ) : null}
      <RunSummary
        job={job}
        status={status}
        duration={dur}
        finished={finished}
        onShowLog={(n) => {
          setLogNode(n);
          document.querySelector('.log-panel')?.scrollIntoView({ block: 'start' });
        }}
      />
      <div className="run-grid">
        <section className="panel dag-panel" aria-label="Pipeline graph">
          <h2>Graph</h2>
          {spec && agents ? (
            <ReactFlowProvider>
              <RunGraph spec={spec} agents={agents} status={nodeStatus} progress={state.progress} />
            </ReactFlowProvider>
          ) : null}
        </section>
        <section className="panel" aria-label="Nodes">
          <h2>Nodes</h2>
          <div className="table-wrap">
            <table className="records nodes-table">
              <thead>
                <tr>
                  <th scope="col">Node</th>
                  <th scope="col">Status</th>
                  <th scope="col">Progress</th>
                  <th scope="col">ETA</th>
                  <th scope="col">Duration</th>
                  <th scope="col">Tries</th>
                </tr>
              </thead>
              <tbody>
                {(job.nodes ?? []).map((n) => {
                  const st = nodeStatus(n.id);
                  const p = state.progress[n.id];
                  const frac = st === 'succeeded' ? 1 : (p?.fraction ?? 0);
                  const d = between(n.started_at, n.finished_at, now);
                  return (
                    <tr key={n.id} data-node={n.id} data-status={st}>
                      <th scope="row">
                        {n.id} <span className="muted small">{n.agent}</span>
                        {n.cached ? (
                          <span className="badge cached" title="outputs reused from an identical earlier run">
                            cached
                          </span>
                        ) : null}
                        {n.error ? <div className="error-text small">{n.error}</div> : null}
                      </th>
                      <td>
                        <StatusBadge status={st} />
                      </td>
                      <td>
                        <progress max={1} value={frac} aria-label={`${n.id} progress`} /> <span className="small">{Math.round(frac * 100)}%</span>
                        {p?.message ? <div className="muted small">{p.message}</div> : null}
                      </td>
                      <td>{st === 'running' && p?.eta ? fmtETA(p.eta) : '—'}</td>
                      <td>{d === undefined ? '—' : fmtDuration(d)}</td>
                      <td>{n.attempts ?? '—'}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </section>
      </div>
      <Charts metrics={state.metrics} agents={Object.fromEntries((job.nodes ?? []).map((n) => [n.id, n.agent]))} />
      <LogPanel logs={state.logs} conn={conn} reconnects={reconnects} done={state.done || finished} lastId={state.lastId} node={logNode} setNode={setLogNode} />
      <Reports job={job} />
      {spec ? (
        <details className="panel">
          <summary>Pipeline spec (YAML)</summary>
          <pre className="code">{toYAML(spec)}</pre>
        </details>
      ) : null}
    </div>
  );
}

function RunGraph({
  spec,
  agents,
  status,
  progress,
}: {
  spec: PipelineSpec;
  agents: AgentSpec[];
  status: (id: string) => string;
  progress: Record<string, { fraction: number; eta?: number; message?: string }>;
}) {
  const { theme } = useTheme();
  const g = useMemo(() => fromSpec(spec, agents), [spec, agents]);
  const specOf = useMemo(() => new Map(agents.map((a) => [a.name, a])), [agents]);
  // React Flow keeps each node's measured size on the node objects we pass: hold them in state and
  // apply its changes, or a re-render with fresh objects would drop the sizes and hide the nodes.
  const statusKey = g.nodes.map((n) => `${status(n.id)}:${progress[n.id]?.fraction ?? ''}:${progress[n.id]?.eta ?? ''}`).join();
  const [nodes, setNodes] = useState<AgentFlowNode[]>([]);
  useEffect(() => {
    setNodes((prev) => {
      const old = new Map(prev.map((n) => [n.id, n]));
      return g.nodes.map((n) => ({
        ...(old.get(n.id) ?? {}),
        id: n.id,
        type: 'agent' as const,
        position: n.position,
        draggable: false,
        connectable: false,
        data: { agent: n.agent, spec: specOf.get(n.agent), status: status(n.id), progress: progress[n.id] },
      }));
    });
    // status and progress are read through statusKey
  }, [g, specOf, statusKey]);
  const edges: Edge[] = g.edges.map((e) => ({ ...e, animated: status(e.source) === 'succeeded' && status(e.target) === 'running' }));
  const shape = g.nodes.map((n) => n.id).join() + '|' + g.edges.map((e) => e.id).join();
  return (
    <div className="run-graph">
      <ReactFlow
        key={shape}
        nodes={nodes}
        edges={edges}
        onNodesChange={(ch: NodeChange<AgentFlowNode>[]) => setNodes((ns) => applyNodeChanges(ch, ns))}
        nodeTypes={nodeTypes}
        fitView
        fitViewOptions={{ padding: 0.15, maxZoom: 1 }}
        nodesConnectable={false}
        nodesDraggable={false}
        elementsSelectable={false}
        colorMode={theme}
        proOptions={{ hideAttribution: true }}
        minZoom={0.2}
      >
        <Background />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}

const CHARTS: { key: string; title: string; y: string; names: string[] }[] = [
  { key: 'loss', title: 'Loss', y: 'loss', names: ['loss', 'train_loss', 'eval_loss', 'val_loss'] },
  { key: 'lr', title: 'Learning rate', y: 'learning rate', names: ['learning_rate', 'lr'] },
  { key: 'tps', title: 'Tokens/s', y: 'tokens / s', names: ['tokens_per_s', 'tokens_per_second', 'tok_s'] },
];

/** progress counters sent along with metrics, not worth a chart */
export const NOT_METRICS = new Set(['eta_s', 'eta', 'epoch', 'step', 'elapsed_s']);

export interface NodeCharts {
  node: string;
  charts: { key: string; title: string; y: string; series: Series[] }[];
  /** metrics with a single value (an evaluation's results): a table, not a chart of one dot */
  values: [string, number][];
}

/** chartsByNode groups a run's metrics by node: the known curves, other curves, and single values. */
export function chartsByNode(metrics: Record<string, Record<string, [number, number][]>>): NodeCharts[] {
  return Object.keys(metrics)
    .map((node) => {
      const m = metrics[node];
      const used = new Set<string>();
      const charts: NodeCharts['charts'] = [];
      for (const c of CHARTS) {
        const series = c.names.filter((n) => (m[n]?.length ?? 0) > 1).map((n) => ({ name: n, points: m[n] }));
        c.names.forEach((n) => series.some((s) => s.name === n) && used.add(n));
        if (series.length) charts.push({ key: c.key, title: c.title, y: c.y, series });
      }
      const values: [string, number][] = [];
      for (const name of Object.keys(m)) {
        if (used.has(name) || NOT_METRICS.has(name) || !m[name].length) continue;
        if (m[name].length === 1) values.push([name, m[name][0][1]]);
        else charts.push({ key: name, title: name, y: name, series: [{ name, points: m[name] }] });
      }
      return { node, charts, values };
    })
    .filter((g) => g.charts.length || g.values.length);
}

function Charts({ metrics, agents }: { metrics: Record<string, Record<string, [number, number][]>>; agents: Record<string, string> }) {
  const [smoothing, setSmoothing] = useState(0);
  const groups = useMemo(() => chartsByNode(metrics), [metrics]);
  if (!groups.length) return null;
  return (
    <section className="panel" aria-label="Training metrics">
      <div className="panel-head">
        <h2>Metrics</h2>
        <span className="spacer" />
        {groups.some((g) => g.charts.length) ? <SmoothingSlider value={smoothing} onChange={setSmoothing} /> : null}
      </div>
      {groups.map((g) => (
        <div key={g.node} className="chart-group" data-node={g.node}>
          {groups.length > 1 || g.values.length ? (
            <h3>
              {g.node} {agents[g.node] ? <span className="muted small">{agents[g.node]}</span> : null}
            </h3>
          ) : null}
          {g.charts.length ? (
            <div className="charts">
              {g.charts.map((c) => (
                <LineChart key={c.key} title={c.title} yLabel={c.y} series={c.series} smoothing={smoothing} />
              ))}
            </div>
          ) : null}
          {g.values.length ? (
            <table className="kv final-values" aria-label={`${g.node} final values`}>
              <tbody>
                {g.values.map(([k, v]) => (
                  <tr key={k}>
                    <th scope="row">{k}</th>
                    <td className="num">{fmtNum(v)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
        </div>
      ))}
    </section>
  );
}

const LEVELS = ['debug', 'info', 'warn', 'error'];
const levelRank = (l: string) => Math.max(0, LEVELS.indexOf(l.startsWith('warn') ? 'warn' : l));

function LogPanel({
  logs,
  conn,
  reconnects,
  done,
  lastId,
  node,
  setNode,
}: {
  logs: LogLine[];
  conn: string;
  reconnects: number;
  done: boolean;
  lastId: number;
  /** the node whose lines are shown ('' for all) */
  node: string;
  setNode: (n: string) => void;
}) {
  const [level, setLevel] = useState('debug');
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLDivElement>(null);
  const nodes = useMemo(() => [...new Set([...logs.map((l) => l.node), node].filter(Boolean))] as string[], [logs, node]);
  const shown = logs.filter((l) => (!node || l.node === node) && levelRank(l.level) >= levelRank(level));
  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [shown.length, follow]);
  return (
    <section className="panel log-panel" aria-label="Log">
      <div className="panel-head">
        <h2>Log</h2>
        <span className={`conn conn-${done ? 'closed' : conn}`} role="status" data-last-event-id={lastId}>
          {done ? 'stream ended' : conn === 'open' ? '● live' : conn}
          {reconnects ? ` · ${reconnects} reconnect${reconnects > 1 ? 's' : ''}` : ''}
        </span>
        <span className="spacer" />
        <label className="inline">
          <span>Node</span>
          <select value={node} onChange={(e) => setNode(e.target.value)}>
            <option value="">all</option>
            {nodes.map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </label>
        <label className="inline">
          <span>Level</span>
          <select value={level} onChange={(e) => setLevel(e.target.value)}>
            {LEVELS.map((l) => (
              <option key={l}>{l}</option>
            ))}
          </select>
        </label>
        <label className="inline">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} />
          <span>Follow</span>
        </label>
      </div>
      <div className="log" ref={box} tabIndex={0} role="log" aria-label="Log lines" aria-live="off" data-lines={logs.length}>
        {shown.map((l) => (
          <div key={l.id} className={`log-line lvl-${l.level}`} data-event-id={l.id}>
            <span className="log-time">{l.time ? new Date(l.time).toLocaleTimeString() : ''}</span>
            <span className="log-node">{l.node ?? ''}</span>
            <span className="log-level">{l.level}</span>
            <span className="log-msg">
              {l.msg}
              {l.attrs && Object.keys(l.attrs).length ? (
                <span className="log-attrs">
                  {' '}
                  {Object.entries(l.attrs)
                    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
                    .join(' ')}
                </span>
              ) : null}
            </span>
          </div>
        ))}
        {!shown.length ? <div className="muted">{logs.length ? 'No lines match the filters.' : 'No log lines yet.'}</div> : null}
      </div>
    </section>
  );
}

let artifactRoute: Promise<string | null> | null = null;

/**
 * findArtifactRoute looks in the server's OpenAPI document for a route that
 * serves a node's output file (/jobs/{id}/nodes/{node}/outputs/{name} or
 * .../artifacts/{name}), so the UI needs no guess that would 404.
 */
function findArtifactRoute(): Promise<string | null> {
  artifactRoute ??= fetch('/openapi.json')
    .then((r) => (r.ok ? r.json() : { paths: {} }))
    .then((doc: { paths?: Record<string, unknown> }) => {
      const re = /\/jobs\/\{[^}]+\}\/nodes\/\{[^}]+\}\/(outputs|artifacts)\/\{[^}]+\}$/;
      return Object.keys(doc.paths ?? {}).find((p) => re.test(p)) ?? null;
    })
    .catch(() => null);
  return artifactRoute;
}

/** artifactURL fills a route template with the job, node and output name. */
export function artifactURL(route: string, jobID: string, nodeID: string, a: Artifact): string {
  const vals = [jobID, nodeID, a.name].map(encodeURIComponent);
  let i = 0;
  return route.replace(/\{[^}]+\}/g, () => vals[i++] ?? '');
}

function Reports({ job }: { job: Job }) {
  const reports = (job.nodes ?? []).flatMap((n) => (n.outputs ?? []).filter((a) => a.type === 'report').map((a) => ({ node: n.id, agent: n.agent, a })));
  if (!reports.length) return null;
  return (
    <section className="panel" aria-label="Reports">
      <h2>Reports</h2>
      {reports.map((r) => (
        <ReportCard key={`${r.node}/${r.a.name}`} job={job.job_id} node={r.node} agent={r.agent} artifact={r.a} defaultOpen={reports.length === 1} />
      ))}
    </section>
  );
}

function ReportCard({ job, node, agent, artifact, defaultOpen }: { job: string; node: string; agent: string; artifact: Artifact; defaultOpen?: boolean }) {
  const [data, setData] = useState<unknown>(undefined);
  const [note, setNote] = useState('');
  const [open, setOpen] = useState(!!defaultOpen);
  const isHTML = /\.html?$/i.test(artifact.path ?? '') || /_html$/.test(artifact.name);
  const [href, setHref] = useState('');
  useEffect(() => {
    if (!isHTML) return;
    findArtifactRoute().then((route) => route && setHref(withToken(artifactURL(route, job, node, artifact))));
  }, [isHTML, job, node, artifact]);
  useEffect(() => {
    if (isHTML || !open) return;
    const inline = artifact.meta?.report;
    if (inline !== undefined) return setData(inline);
    let stop = false;
    findArtifactRoute().then(async (route) => {
      if (stop) return;
      if (!route) {
        setNote('This server does not serve report files; showing the summary the node recorded.');
        return setData(null);
      }
      try {
        const r = await fetch(artifactURL(route, job, node, artifact), { headers: { Accept: 'application/json' } });
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        const body = await r.json();
        if (!stop) setData(body);
      } catch (e) {
        if (!stop) {
          setNote(`Could not load the report file (${(e as Error).message}); showing the summary the node recorded.`);
          setData(null);
        }
      }
    });
    return () => {
      stop = true;
    };
  }, [job, node, artifact, isHTML, open]);
  if (isHTML)
    return (
      <article className="report-card" data-report-node={node} data-report-name={artifact.name}>
        <h3>
          {node} · {artifact.name} <span className="muted small">({agent})</span>
        </h3>
        {href ? (
          <a className="button" href={href} target="_blank" rel="noopener" data-html-report>
            Open the HTML report
          </a>
        ) : (
          <p className="muted">This server does not serve report files.</p>
        )}
      </article>
    );
  return (
    <article className="report-card" data-report-node={node} data-report-name={artifact.name}>
      <h3>
        <button type="button" className="link" aria-expanded={open} onClick={() => setOpen((o) => !o)}>
          {open ? '▾' : '▸'} {node} · {artifact.name}
        </button>{' '}
        <span className="muted small">({agent})</span>
      </h3>
      {open ? (
        data === undefined ? (
          <p className="muted">Loading…</p>
        ) : data === null ? (
          <>
            {note ? <p className="muted small">{note}</p> : null}
            <ReportView report={artifact.meta ?? {}} name={artifact.name} />
          </>
        ) : (
          <ReportBody data={data} name={artifact.name} />
        )
      ) : null}
    </article>
  );
}

/**
 * ReportBody renders a loaded report. A comparison's contamination check is
 * written out (sentences and a table of row pairs, file names without server
 * folders) before the rest of the report.
 */
function ReportBody({ data, name }: { data: unknown; name: string }) {
  const obj = data && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>) : null;
  if (obj?.kind !== 'comparison') return <ReportView report={data} name={name} />;
  const { contamination, ...rest } = obj;
  return (
    <>
      <ContaminationView c={contamination as Contamination | undefined} />
      <ReportView report={rest} name={name} />
    </>
  );
}
