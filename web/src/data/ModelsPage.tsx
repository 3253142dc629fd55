import { Fragment, useEffect, useState } from 'react';
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
  const [list, setList] = useState<Model[] | null>(null);
  const [err, setErr] = useState('');
  const [open, setOpen] = useState<Record<string, boolean>>({});
  useEffect(() => {
    api.models().then(setList, (e: Error) => setErr(e.message));
  }, []);
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
        <div className="table-wrap">
          <table className="records models-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Format</th>
                <th scope="col">Size</th>
                <th scope="col">Metadata</th>
                <th scope="col">From run</th>
                <th scope="col">Created</th>
                <th scope="col">Download</th>
              </tr>
            </thead>
            <tbody>
              {list.map((m) => {
                const meta = Object.fromEntries(
                  Object.entries({ ...Object.fromEntries(Object.entries(m).filter(([k]) => !SKIP.has(k))), ...(m.meta ?? {}) }).filter(
                    ([k]) => !['files', 'size', 'format', 'history'].includes(k),
                  ),
                );
                const files = m.files ?? [];
                const hasHistory = files.includes('history.json');
                return (
                  <Fragment key={m.model_id}>
                  <tr data-model-id={m.model_id}>
                    <td>
                      {m.name || m.model_id}
                      <div className="mono small muted">{m.model_id}</div>
                    </td>
                    <td>{m.format ?? (typeof m.meta?.format === 'string' ? m.meta.format : '—')}</td>
                    <td>{fmtBytes(m.size)}</td>
                    <td>
                      {Object.keys(meta).length ? (
                        <dl className="meta">
                          {Object.entries(meta).map(([k, v]) => (
                            <div key={k}>
                              <dt>{k.replace(/_/g, ' ')}</dt>
                              <dd>{fmtValue(v)}</dd>
                            </div>
                          ))}
                        </dl>
                      ) : (
                        '—'
                      )}
                    </td>
                    <td>{m.job_id ? <Link to={`/runs/${encodeURIComponent(m.job_id)}`}>{m.node_id ? `${m.node_id} @ ` : ''}{m.job_id.slice(0, 8)}</Link> : '—'}</td>
                    <td title={fmtDate(m.created_at)}>{fmtAgo(m.created_at)}</td>
                    <td>
                      <a className="button" href={api.modelDownloadURL(m.model_id)} download aria-label={`Download ${m.name || m.model_id}${files.length > 1 ? ' (tar)' : ''}`}>
                        Download{files.length > 1 ? ' all (.tar)' : ''}
                      </a>
                      {files.length > 1 ? (
                        <ul className="files">
                          {files.map((f) => (
                            <li key={f}>
                              <a href={`${api.modelDownloadURL(m.model_id)}?file=${encodeURIComponent(f)}`} download aria-label={`Download file ${f} of ${m.name || m.model_id}`}>
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
                      {hasHistory ? (
                        <button
                          type="button"
                          className="link small"
                          aria-expanded={!!open[m.model_id]}
                          onClick={() => setOpen((o) => ({ ...o, [m.model_id]: !o[m.model_id] }))}
                        >
                          {open[m.model_id] ? 'Hide' : 'Show'} training curve
                        </button>
                      ) : null}
                    </td>
                  </tr>
                  {open[m.model_id] ? (
                    <tr className="history-row">
                      <td colSpan={7}>
                        <History url={`${api.modelDownloadURL(m.model_id)}?file=history.json`} />
                      </td>
                    </tr>
                  ) : null}
                  </Fragment>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
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
