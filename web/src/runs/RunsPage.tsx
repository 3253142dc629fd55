import { useEffect, useMemo, useState } from 'react';
import { api, type Job } from '../api';
import { between, fmtAgo, fmtDate, fmtDuration } from '../ui/format';
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
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const [total, setTotal] = useState(0);
  const [limit, setLimit] = useState(100);
  const [err, setErr] = useState('');
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    let stop = false;
    let timer = 0;
    const load = () =>
      api.jobs(status || undefined, limit).then(
        ({ jobs: js, total }) => {
          if (stop) return;
          setJobs(js);
          setTotal(total);
          setErr('');
          setNow(Date.now());
          timer = window.setTimeout(load, js.some((j) => !TERMINAL.has(j.status)) ? 2000 : 10000);
        },
        (e: Error) => {
          if (stop) return;
          setErr(e.message);
          timer = window.setTimeout(load, 5000);
        },
      );
    load();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [status, limit]);

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
        <div className="table-wrap">
          <table className="records runs-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
                <th scope="col">Duration</th>
                <th scope="col">Nodes</th>
                <th scope="col">Id</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((j) => {
                const d = between(j.started_at, j.finished_at, now);
                const nodes = j.nodes ?? [];
                const ok = nodes.filter((n) => n.status === 'succeeded').length;
                return (
                  <tr key={j.job_id} data-job-id={j.job_id}>
                    <td>
                      <Link to={`/runs/${encodeURIComponent(j.job_id)}`}>{j.name || j.job_id}</Link>
                    </td>
                    <td>
                      <StatusBadge status={j.status} />
                    </td>
                    <td title={fmtDate(j.created_at)}>{fmtAgo(j.created_at, now)}</td>
                    <td>{d === undefined ? '—' : fmtDuration(d)}</td>
                    <td>{nodes.length ? `${ok}/${nodes.length}` : '—'}</td>
                    <td className="mono small">{j.job_id}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
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
