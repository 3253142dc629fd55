import { useEffect, useState } from 'react';
import { DataTable } from '../ui/DataTable';
import { useFetch } from '../ui/useFetch';
import { LineChart, type Series } from '../ui/charts';
import { api, type Model } from '../api';
import { fmtAgo, fmtBytes, fmtDate, fmtNum } from '../ui/format';
import { Link } from '../ui/router';

/** fmtValue writes a metadata value for people: numbers grouped, lists joined, maps as key=value. */
export function fmtValue(v: unknown): string {
  if (typeof v === 'number') return fmtNum(v);
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.map(fmtValue).join(', ');
  if (v && typeof v === 'object')
    return Object.entries(v)
      .map(([k, x]) => `${k}=${fmtValue(x)}`)
      .join(', ');
  return v === null || v === undefined ? '—' : String(v);
}

const SKIP = new Set(['model_id', 'name', 'job_id', 'node_id', 'format', 'size', 'created_at', 'meta', 'path', 'uri', 'output']);

export function ModelsPage() {
  const { data: list, error: err } = useFetch(() => api.models(), []);
  const [open, setOpen] = useState<Record<string, boolean>>({});
  return (
    <div className="page">
      <div className="page-head">
        <h1>Models</h1>
        <Link className="button" to="/playground">
          Open the playground
        </Link>
      </div>
      {err ? (
        <div className="banner error" role="alert">
          Could not load models: {err}
        </div>
      ) : null}
      {list === null && !err ? <p className="muted">Loading…</p> : null}
      {list && !list.length ? <p className="muted">No exported models yet. Runs with an export node put their artifacts here.</p> : null}
      {list?.length ? (
        <DataTable
          label="Models"
          className="models-table"
          rows={list}
          rowKey={(m) => m.model_id}
          rowProps={(m) => ({ 'data-model-id': m.model_id })}
          expanded={(m) => (open[m.model_id] ? <History url={api.modelDownloadURL(m.model_id, 'history.json')} /> : null)}
          columns={[
            {
              key: 'name',
              header: 'Name',
              cell: (m: Model) => (
                <>
                  {m.name || m.model_id}
                  <div className="mono small muted">{m.model_id}</div>
                </>
              ),
            },
            { key: 'format', header: 'Format', cell: (m: Model) => m.format ?? (typeof m.meta?.format === 'string' ? m.meta.format : '—') },
            { key: 'size', header: 'Size', cell: (m: Model) => fmtBytes(m.size), className: 'num' },
            { key: 'meta', header: 'Metadata', cell: (m: Model) => <Meta m={m} /> },
            {
              key: 'run',
              header: 'From run',
              cell: (m: Model) =>
                m.job_id ? (
                  <Link to={`/runs/${encodeURIComponent(m.job_id)}`}>
                    {m.node_id ? `${m.node_id} @ ` : ''}
                    {m.job_id.slice(0, 8)}
                  </Link>
                ) : (
                  '—'
                ),
            },
            { key: 'created', header: 'Created', cell: (m: Model) => fmtAgo(m.created_at), title: (m: Model) => fmtDate(m.created_at) },
            {
              key: 'download',
              header: 'Download',
              cell: (m: Model) => {
                const files = m.files ?? [];
                return (
                  <>
                    <a className="button" href={api.modelDownloadURL(m.model_id)} download aria-label={`Download${files.length > 1 ? ' all (.tar)' : ''} ${m.name || m.model_id}`}>
                      Download{files.length > 1 ? ' all (.tar)' : ''}
                    </a>
                    {files.length > 1 ? (
                      <ul className="files">
                        {files.map((f) => (
                          <li key={f}>
                            <a href={api.modelDownloadURL(m.model_id, f)} download aria-label={`Download file ${f} of ${m.name || m.model_id}`}>
                              {f}
                            </a>
                          </li>
                        ))}
                      </ul>
                    ) : null}
                    {m.output === 'adapter' || m.output === 'merged' ? (
                      <Link className="button small" to={`/playground?models=${encodeURIComponent(m.model_id)}`} aria-label={`Try ${m.name || m.model_id} in the playground`}>
                        Try in playground
                      </Link>
                    ) : null}
                    {files.includes('history.json') ? (
                      <button type="button" className="link small" aria-expanded={!!open[m.model_id]} onClick={() => setOpen((o) => ({ ...o, [m.model_id]: !o[m.model_id] }))}>
                        {open[m.model_id] ? 'Hide' : 'Show'} training curve
                      </button>
                    ) : null}
                  </>
                );
              },
            },
          ]}
        />
      ) : null}
    </div>
  );
}

function Meta({ m }: { m: Model }) {
  const meta = Object.fromEntries(
    Object.entries({ ...Object.fromEntries(Object.entries(m).filter(([k]) => !SKIP.has(k))), ...(m.meta ?? {}) }).filter(([k]) => !['files', 'size', 'format', 'history'].includes(k)),
  );
  if (!Object.keys(meta).length) return <>—</>;
  return (
    <dl className="meta">
      {Object.entries(meta).map(([k, v]) => (
        <div key={k}>
          <dt>{k.replace(/_/g, ' ')}</dt>
          <dd>{fmtValue(v)}</dd>
        </div>
      ))}
    </dl>
  );
}

/** History charts a trained model's history.json (loss, validation loss and learning rate per step). */
function History({ url }: { url: string }) {
  const [rows, setRows] = useState<Record<string, number>[] | null>(null);
  const [err, setErr] = useState('');
  useEffect(() => {
    fetch(url)
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then((h) => setRows(Array.isArray(h) ? h : []), (e: Error) => setErr(e.message));
  }, [url]);
  if (err) return <p className="error-text">Could not load history.json: {err}</p>;
  if (!rows) return <p className="muted">Loading…</p>;
  const pts = (k: string): [number, number][] => rows.filter((r) => typeof r[k] === 'number').map((r) => [r.step, r[k]]);
  const loss: Series[] = [
    { name: 'loss', points: pts('loss') },
    { name: 'val_loss', points: pts('val_loss') },
  ].filter((s) => s.points.length);
  return (
    <div className="charts">
      <LineChart title="Loss" series={loss} />
      <LineChart title="Learning rate" series={[{ name: 'learning_rate', points: pts('learning_rate') }]} />
    </div>
  );
}
