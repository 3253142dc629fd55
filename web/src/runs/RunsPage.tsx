import { useMemo, useState } from 'react';
import { DataTable } from '../ui/DataTable';
import { useFetch } from '../ui/useFetch';
import { api, type Job } from '../api';
import { between, fmtAgo, fmtDate, fmtDuration, fmtNum } from '../ui/format';
import { Link, navigate, useLocation } from '../ui/router';
import { TERMINAL } from './stream';

const STATUSES = ['', 'pending', 'running', 'succeeded', 'failed', 'cancelled'];

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge status-${status}`}>{status}</span>;
}

export function RunsPage() {
  const { query } = useLocation();
  const status = query.get('status') ?? '';
  const q = query.get('q') ?? '';
  const [limit, setLimit] = useState(100);
  const fetched = useFetch(() => api.jobs(status || undefined, limit), [status, limit], {
    poll: (d, err) => (err ? 5000 : d?.jobs.some((j) => !TERMINAL.has(j.status)) ? 2000 : 10000),
  });
  const jobs = fetched.data?.jobs ?? null;
  const total = fetched.data?.total ?? 0;
  const err = fetched.error;
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const now = useMemo(() => Date.now(), [fetched.data]);

  const shown = useMemo(
    () =>
      (jobs ?? [])
        .filter((j) => !status || j.status === status)
        .filter((j) => !q || `${j.name} ${j.job_id}`.toLowerCase().includes(q.toLowerCase()))
        .sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at)),
    [jobs, q, status],
  );
  const setQuery = (k: string, v: string) => {
    const p = new URLSearchParams(location.search);
    if (v) p.set(k, v);
    else p.delete(k);
    navigate(`/runs${p.toString() ? `?${p}` : ''}`, true);
  };

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
            <span>Search</span>
            <input type="search" value={q} placeholder="name or id" onChange={(e) => setQuery('q', e.target.value)} />
          </label>
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
          No runs{status ? ` with status ${status}` : ''}. <Link to="/">Build a pipeline</Link> and run it.
        </p>
      ) : null}
      {shown.length ? (
        <div>
          <DataTable
            label="Runs"
            className="runs-table"
            rows={shown}
            rowKey={(j) => j.job_id}
            rowProps={(j) => ({ 'data-job-id': j.job_id })}
            columns={[
              { key: 'name', header: 'Name', cell: (j) => <Link to={`/runs/${encodeURIComponent(j.job_id)}`}>{j.name || j.job_id}</Link> },
              { key: 'status', header: 'Status', cell: (j) => <StatusBadge status={j.status} /> },
              { key: 'created', header: 'Created', cell: (j) => fmtAgo(j.created_at, now), title: (j) => fmtDate(j.created_at) },
              {
                key: 'duration',
                header: 'Duration',
                cell: (j) => {
                  const d = between(j.started_at, j.finished_at, now);
                  return d === undefined ? '—' : fmtDuration(d);
                },
              },
              { key: 'base', header: 'Base model', cell: (j) => trainFacts(j).base ?? '—' },
              { key: 'method', header: 'Method', cell: (j) => trainFacts(j).method ?? '—' },
              { key: 'loss', header: 'Final loss', cell: (j) => (trainFacts(j).loss !== undefined ? fmtNum(trainFacts(j).loss!) : '—'), className: 'num' },
              {
                key: 'nodes',
                header: 'Nodes',
                cell: (j) => {
                  const nodes = j.nodes ?? [];
                  return nodes.length ? `${nodes.filter((n) => n.status === 'succeeded').length}/${nodes.length}` : '—';
                },
              },
              { key: 'id', header: 'Id', cell: (j) => j.job_id, className: 'mono small' },
            ]}
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

/** trainFacts reads a run's base model (folder name), method and final loss from its train node. */
export function trainFacts(j: Job): { base?: string; method?: string; loss?: number } {
  const specNode = j.spec?.nodes.find((n) => n.agent === 'train');
  const run = (j.nodes ?? []).find((n) => n.agent === 'train');
  const params = (specNode?.params ?? run?.params ?? {}) as Record<string, unknown>;
  const base = typeof params.base_model === 'string' && params.base_model ? params.base_model.replace(/\/+$/, '').split('/').pop() : undefined;
  if (!specNode && !run) return {};
  const method = typeof params.method === 'string' ? params.method : 'lora';
  const meta = run?.outputs?.find((o) => o.type === 'model')?.meta ?? {};
  const loss = typeof meta.final_loss === 'number' ? meta.final_loss : undefined;
  return { base, method, loss };
}
