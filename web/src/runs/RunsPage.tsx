import { useMemo, useState } from 'react';
import { DataTable } from '../ui/DataTable';
import { useFetch } from '../ui/useFetch';
import { api, type Job } from '../api';
import { between, fmtAgo, fmtDate, fmtDuration, fmtNum } from '../ui/format';
import { baseModels, filterRuns, runFacts, type RunFacts } from './runs';
import { Link, navigate, useLocation } from '../ui/router';
import { TERMINAL } from './stream';
import '../ui/pages.css';

const STATUSES = ['', 'pending', 'running', 'succeeded', 'failed', 'cancelled'];

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge status-${status}`}>{status}</span>;
}

export function RunsPage() {
  const { query } = useLocation();
  const status = query.get('status') ?? '';
  const q = query.get('q') ?? '';
  const base = query.get('base') ?? '';
  const [limit, setLimit] = useState(100);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const fetched = useFetch(() => api.jobs(status || undefined, limit), [status, limit], {
    poll: (d, err) => (err ? 5000 : d?.jobs.some((j) => !TERMINAL.has(j.status)) ? 2000 : 10000),
  });
  const jobs = fetched.data?.jobs ?? null;
  const total = fetched.data?.total ?? 0;
  const err = fetched.error;
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const now = useMemo(() => Date.now(), [fetched.data]);

  const shown = useMemo(() => filterRuns(jobs ?? [], { status, base, q }), [jobs, q, status, base]);
  const bases = useMemo(() => baseModels(jobs ?? []), [jobs]);
  const setQuery = (k: string, v: string) => {
    const p = new URLSearchParams(location.search);
    if (v) p.set(k, v);
    else p.delete(k);
    navigate(`/runs${p.toString() ? `?${p}` : ''}`, true);
  };
  const picked = [...selected];

  return (
    <div className="page">
      <div className="page-head">
        <h1>Runs</h1>
        <div className="filters" role="search">
          <label className="inline">
            <span>Status</span>
            <select value={status} onChange={(e) => setQuery('status', e.target.value)}>
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s || 'any'}
                </option>
              ))}
            </select>
          </label>
          <label className="inline">
            <span>Base model</span>
            <select value={base} onChange={(e) => setQuery('base', e.target.value)}>
              <option value="">any</option>
              {(base && !bases.includes(base) ? [...bases, base] : bases).map((b) => (
                <option key={b} value={b}>
                  {b}
                </option>
              ))}
            </select>
          </label>
          <label className="inline">
            <span>Search</span>
            <input type="search" value={q} placeholder="name or id" onChange={(e) => setQuery('q', e.target.value)} />
          </label>
          <button
            type="button"
            disabled={picked.length < 2}
            title={picked.length < 2 ? 'Select two or more runs to compare them' : undefined}
            onClick={() => navigate(`/runs/compare?ids=${picked.map(encodeURIComponent).join(',')}`)}
          >
            Compare{picked.length ? ` ${picked.length} runs` : ''}
          </button>
        </div>
      </div>
      {err ? (
        <div className="banner error" role="alert">
          Could not load runs: {err}
        </div>
      ) : null}
      {jobs === null && !err ? <p className="muted">Loading…</p> : null}
      {jobs && !shown.length ? (
        <p className="muted">
          No runs{status ? ` with status ${status}` : ''}
          {base ? ` on ${base}` : ''}
          {q ? ` matching “${q}”` : ''}. <Link to="/">Build a pipeline</Link> and run it.
        </p>
      ) : null}
      {shown.length ? (
        <div>
          <RunsTable
            jobs={shown}
            now={now}
            selected={selected}
            onSelect={(k, on) =>
              setSelected((s) => {
                const n = new Set(s);
                if (on) n.add(k);
                else n.delete(k);
                return n;
              })
            }
          />
          {jobs && total > jobs.length && limit < 1000 ? (
            <button type="button" className="link" onClick={() => setLimit((l) => Math.min(l * 2, 1000))}>
              Show more ({total - jobs.length} older)
            </button>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

/** fmtMetric writes a primary metric as "rouge_l 0.085 (base 0.062)". */
export function PrimaryCell({ p }: { p: RunFacts['primary'] }) {
  if (!p) return <>—</>;
  const better = p.base === undefined ? undefined : p.lower_is_better ? p.value < p.base : p.value > p.base;
  return (
    <span title={`${p.name} measured by node ${p.node}${p.lower_is_better ? ' (lower is better)' : ''}`}>
      <span className="muted small">{p.name}</span> {fmtNum(p.value)}
      {p.base !== undefined ? (
        <span className={`small ${better ? 'better' : 'worse'}`}>
          {' '}
          (base {fmtNum(p.base)})
        </span>
      ) : null}
    </span>
  );
}

/** RunsTable is the runs list: one row per job, with its training facts and a checkbox to compare. */
export function RunsTable({
  jobs,
  now,
  selected,
  onSelect,
}: {
  jobs: Job[];
  now: number;
  selected?: Set<string>;
  onSelect?: (key: string, on: boolean) => void;
}) {
  return (
    <DataTable
      label="Runs"
      className="runs-table"
      rows={jobs}
      rowKey={(j) => j.job_id}
      rowProps={(j) => ({ 'data-job-id': j.job_id })}
      selected={selected}
      onSelect={onSelect}
      selectLabel={(j) => `Select ${j.name || j.job_id} to compare`}
      columns={[
        {
          key: 'name',
          header: 'Name',
          cell: (j) => (
            <>
              <Link to={`/runs/${encodeURIComponent(j.job_id)}`}>{j.name || j.job_id}</Link>
              <div className="mono small muted">{j.job_id}</div>
            </>
          ),
        },
        { key: 'status', header: 'Status', cell: (j) => <StatusBadge status={j.status} /> },
        { key: 'created', header: 'Created', cell: (j) => fmtAgo(j.created_at, now), title: (j) => fmtDate(j.created_at) },
        {
          key: 'duration',
          header: 'Duration',
          className: 'num',
          cell: (j) => {
            const d = between(j.started_at, j.finished_at, now);
            return d === undefined ? '—' : fmtDuration(d);
          },
        },
        { key: 'base', header: 'Base model', cell: (j) => runFacts(j).base ?? '—' },
        { key: 'method', header: 'Method', cell: (j) => runFacts(j).method ?? '—' },
        { key: 'loss', header: 'Final loss', cell: (j) => fmtNum(runFacts(j).loss), className: 'num' },
        { key: 'metric', header: 'Primary metric', cell: (j) => <PrimaryCell p={runFacts(j).primary} /> },
        {
          key: 'nodes',
          header: 'Nodes',
          className: 'num',
          title: () => 'nodes succeeded / nodes',
          cell: (j) => {
            const n = runFacts(j).nodes;
            return n ? `${n[0]}/${n[1]}` : '—';
          },
        },
      ]}
    />
  );
}
