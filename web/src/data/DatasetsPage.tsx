import { useEffect, useRef, useState } from 'react';
import { DataTable } from '../ui/DataTable';
import { api, upload, type Dataset, type DatasetSummary, type PageParams } from '../api';
import { rememberSpec } from '../runs/specs';
import { navigate, useLocation } from '../ui/router';
import { fmtAgo, fmtBytes, fmtDate, fmtNum } from '../ui/format';
import { ReportView } from '../ui/ReportView';
import { Link } from '../ui/router';
import { useAuth } from '../auth/auth';
import { DeleteButton } from '../ui/DeleteButton';
import { CopyButton } from './ModelsPage';
import { scrub, shortVersion, stripPaths } from './paths';
import { useDebounced, usePagedList, withFilter, withParam, type FormatFilter } from './pagedList';
import './data.css';

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** summaryOf is a dataset's profile headline: the list's summary, or read from the profile GET /datasets/{id} returns. */
export function summaryOf(d: Dataset): DatasetSummary | undefined {
  if (d.summary) return d.summary;
  const p = d.profile;
  if (!isObj(p)) return undefined;
  const cols = Array.isArray(p.columns) ? p.columns.map((c) => (isObj(c) && typeof c.name === 'string' ? c.name : '')).filter(Boolean) : [];
  const fmt = typeof p.source_format === 'string' && p.source_format ? p.source_format : typeof p.format === 'string' ? p.format : '';
  return { rows: typeof p.rows === 'number' ? p.rows : 0, format: fmt, columns: cols, ...(typeof p.error === 'string' ? { error: p.error } : {}) };
}

/** Version shows a content version by its first 12 hex digits, the whole one on hover and to copy. */
function Version({ v, copy }: { v?: string; copy?: boolean }) {
  if (!v) return <>—</>;
  return (
    <span className="row">
      <span className="hash" title={v} data-version={v}>
        {shortVersion(v)}
      </span>
      {copy ? <CopyButton text={v} label="Copy the version" /> : null}
    </span>
  );
}

const COLS_SHOWN = 4;

/** DatasetsTable lists uploaded datasets with what their upload profile found: detected format, rows, columns; and the version. With onDeleted, each has a Delete button (onDeleted runs after one is deleted). */
export function DatasetsTable({ list, onDeleted }: { list: Dataset[]; onDeleted?: () => void }) {
  return (
    <DataTable
      label="Datasets"
      className="datasets-table"
      rows={list}
      rowKey={(d) => d.dataset_id}
      rowProps={(d) => ({ 'data-dataset-id': d.dataset_id })}
      columns={[
        { key: 'name', header: 'Name', cell: (d: Dataset) => <Link to={`/datasets/${encodeURIComponent(d.dataset_id)}`}>{d.name || d.dataset_id}</Link> },
        {
          key: 'format',
          header: 'Format',
          cell: (d: Dataset) => {
            const s = summaryOf(d);
            if (s?.error) return <span title={stripPaths(s.error)}>not readable ({d.format ?? 'file'})</span>;
            return (
              <>
                {s?.format ? <span className="detected">{s.format}</span> : '—'}
                {d.format ? <span className="muted small"> · {d.format}</span> : null}
              </>
            );
          },
          title: (d: Dataset) => {
            const s = summaryOf(d);
            return s?.format ? `detected ${s.format} records in a ${d.format ?? ''} file` : undefined;
          },
        },
        { key: 'rows', header: 'Rows', cell: (d: Dataset) => { const s = summaryOf(d); return s && !s.error ? fmtNum(s.rows) : '—'; }, className: 'num' },
        {
          key: 'columns',
          header: 'Columns',
          className: 'columns',
          cell: (d: Dataset) => {
            const c = summaryOf(d)?.columns ?? [];
            if (!c.length) return '—';
            return c.length > COLS_SHOWN ? `${c.slice(0, COLS_SHOWN).join(', ')} +${c.length - COLS_SHOWN} more` : c.join(', ');
          },
          title: (d: Dataset) => summaryOf(d)?.columns.join(', ') || undefined,
        },
        { key: 'size', header: 'Size', cell: (d: Dataset) => fmtBytes(d.size), className: 'num' },
        { key: 'version', header: 'Version', cell: (d: Dataset) => <Version v={d.version ?? (d.sha256 ? `sha256:${d.sha256}` : undefined)} /> },
        { key: 'uploaded', header: 'Uploaded', cell: (d: Dataset) => fmtAgo(d.created_at), title: (d: Dataset) => fmtDate(d.created_at) },
        { key: 'id', header: 'Id', cell: (d: Dataset) => d.dataset_id, className: 'mono small' },
        ...(onDeleted
          ? [
              {
                key: 'delete',
                header: 'Actions',
                cell: (d: Dataset) => (
                  <DeleteButton className="small" kind="dataset" name={d.name || d.dataset_id} id={d.dataset_id} onDelete={() => api.deleteDataset(d.dataset_id)} onDeleted={onDeleted} />
                ),
              },
            ]
          : []),
      ]}
    />
  );
}

/** DATASET_PAGE is how many datasets one "Show more" loads. */
export const DATASET_PAGE = 100;

/** DATASET_FORMATS are the format filter's choices: the record formats an upload's profile detects (GET /datasets?format=, comma-separated). */
export const DATASET_FORMATS: FormatFilter[] = [
  { value: '', label: 'any' },
  { value: 'alpaca', label: 'alpaca' },
  { value: 'messages,sharegpt', label: 'chat (messages, sharegpt)' },
  { value: 'completion', label: 'completion' },
  { value: 'text', label: 'text' },
  { value: 'preference', label: 'preference' },
  { value: 'kto', label: 'kto' },
];

const datasetPage = async (p: PageParams) => {
  const r = await api.datasetPage(p);
  return { items: r.datasets, total: r.total };
};
const datasetKey = (d: Dataset) => d.dataset_id;

/** DatasetsPage lists every dataset, newest first, a page at a time ("Show more"), filtered by the server: q (name or id) and the detected format, both kept in the URL. */
export function DatasetsPage() {
  const { query } = useLocation();
  const q = query.get('q') ?? '';
  const format = query.get('format') ?? '';
  const search = useDebounced(q.trim(), 250);
  const { items: list, total, error: err, loading, more, reload } = usePagedList(datasetPage, datasetKey, search, format, DATASET_PAGE);
  const { canWrite } = useAuth();
  const filtered = !!(search || format);
  const choices = withFilter(DATASET_FORMATS, format);
  const formatLabel = choices.find((f) => f.value === format)?.label ?? format;
  const setQuery = (k: string, v: string) => navigate(withParam('/datasets', location.search, k, v), true);
  return (
    <div className="page datasets-page">
      <div className="page-head">
        <h1>Datasets</h1>
        <div className="filters" role="search">
          <label className="inline">
            <span>Format</span>
            <select value={format} onChange={(e) => setQuery('format', e.target.value)}>
              {choices.map((f) => (
                <option key={f.value} value={f.value}>
                  {f.label}
                </option>
              ))}
            </select>
          </label>
          <label className="inline">
            <span>Search</span>
            <input type="search" value={q} placeholder="name or dataset id" onChange={(e) => setQuery('q', e.target.value)} />
          </label>
        </div>
      </div>
      {canWrite ? <Uploader onDone={reload} /> : null}
      {err ? (
        <div className="banner error" role="alert">
          Could not load datasets: {err}
        </div>
      ) : null}
      {list === null && !err ? <p className="muted">Loading…</p> : null}
      {list && !list.length && !filtered ? <p className="muted">No datasets yet. Upload a JSON, JSONL, CSV, Parquet or text file above.</p> : null}
      {list && !list.length && filtered ? (
        <p className="muted datasets-empty">
          No datasets{format ? ` of ${formatLabel} records` : ''}
          {search ? ` matching “${search}”` : ''}.{' '}
          <button type="button" className="link" onClick={() => navigate('/datasets', true)}>
            Clear the filters
          </button>
        </p>
      ) : null}
      {list?.length ? (
        <p className="muted small" role="status" data-datasets-shown={list.length} data-datasets-total={total}>
          {`${fmtNum(list.length)} of ${fmtNum(total)} ${filtered ? 'matching ' : ''}dataset${total === 1 ? '' : 's'}`}
        </p>
      ) : null}
      {list?.length ? <DatasetsTable list={list} onDeleted={canWrite ? reload : undefined} /> : null}
      {list && total > list.length ? (
        <button type="button" className="link" disabled={loading} onClick={more}>
          {loading ? 'Loading…' : `Show more (${fmtNum(total - list.length)} older)`}
        </button>
      ) : null}
    </div>
  );
}

function Uploader({ onDone }: { onDone: () => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState('');
  const [progress, setProgress] = useState<number | null>(null);
  const [msg, setMsg] = useState<{ kind: 'error' | 'info'; text: string; id?: string } | null>(null);
  const abort = useRef<(() => void) | null>(null);
  const start = async () => {
    if (!file) return;
    setMsg(null);
    setProgress(0);
    const u = upload(file, name || file.name, setProgress);
    abort.current = u.abort;
    try {
      const d = await u.promise;
      const sum = summaryOf(d);
      const what = sum && !sum.error && sum.format ? `, ${fmtNum(sum.rows)} rows of ${sum.format}` : '';
      setMsg({ kind: 'info', text: `Uploaded ${d.name || file.name} (${fmtBytes(d.size)}${what}) as `, id: d.dataset_id });
      setFile(null);
      setName('');
      onDone();
    } catch (e) {
      setMsg({ kind: 'error', text: `Upload failed: ${(e as Error).message}` });
    } finally {
      setProgress(null);
      abort.current = null;
    }
  };
  return (
    <form
      className="panel uploader"
      aria-label="Upload a dataset"
      onSubmit={(e) => {
        e.preventDefault();
        start();
      }}
    >
      <h2>Upload</h2>
      <div className="row wrap">
        <label className="field">
          <span>File</span>
          <input
            type="file"
            name="file"
            accept=".json,.jsonl,.csv,.tsv,.parquet,.txt,.md"
            onChange={(e) => setFile(e.target.files?.[0] ?? null)}
            disabled={progress !== null}
          />
        </label>
        <label className="field">
          <span>Name (optional)</span>
          <input type="text" value={name} placeholder={file?.name ?? 'dataset name'} onChange={(e) => setName(e.target.value)} disabled={progress !== null} />
        </label>
        <button type="submit" className="primary" disabled={!file || progress !== null}>
          Upload
        </button>
        {progress !== null ? (
          <button type="button" onClick={() => abort.current?.()}>
            Cancel upload
          </button>
        ) : null}
      </div>
      {file ? <p className="muted small">{`${file.name}, ${fmtBytes(file.size)}`}</p> : null}
      {progress !== null ? (
        <div className="upload-progress">
          <progress max={1} value={progress} aria-label="Upload progress" />
          <span>{Math.round(progress * 100)}%</span>
        </div>
      ) : null}
      {msg ? (
        <p className={msg.kind === 'error' ? 'error-text' : 'ok-text'} role={msg.kind === 'error' ? 'alert' : 'status'}>
          {msg.text}
          {msg.id ? <Link to={`/datasets/${encodeURIComponent(msg.id)}`}>{msg.id}</Link> : null}
        </p>
      ) : null}
    </form>
  );
}

export function DatasetPage({ id }: { id: string }) {
  const [d, setD] = useState<Dataset | null>(null);
  const [err, setErr] = useState('');
  const [canProfile, setCanProfile] = useState(false);
  const { canWrite } = useAuth();
  useEffect(() => {
    api.dataset(id).then(setD, (e: Error) => setErr(e.message));
    api.agents().then((as) => setCanProfile(as.some((a) => a.name === 'dataset')), () => {});
  }, [id]);
  // Uploads from before profiles were kept have none: the dataset agent's report has one.
  const runProfile = async () => {
    const spec = { name: `profile-${d?.name || id}`.slice(0, 200), nodes: [{ id: 'profile', agent: 'dataset', params: { source: id } }], edges: [] };
    try {
      const r = await api.submit(spec);
      rememberSpec(r.job_id, spec);
      navigate(`/runs/${encodeURIComponent(r.job_id)}`);
    } catch (e) {
      setErr(`Could not start profiling: ${(e as Error).message}`);
    }
  };
  if (!d)
    return (
      <div className="page">
        <h1>Dataset {id}</h1>
        {err ? (
          <div className="banner error" role="alert">
            {err}
          </div>
        ) : (
          <p className="muted">Loading…</p>
        )}
      </div>
    );
  return (
    <DatasetView
      d={d}
      err={err}
      onProfile={canProfile && canWrite && !isObj(d.profile) ? runProfile : undefined}
      onDeleted={canWrite ? () => navigate('/datasets') : undefined}
    />
  );
}

// Profile keys DatasetView shows itself; the report view draws the rest (field lengths, record bytes, tokens, unreadable rows).
const SHOWN = new Set(['rows', 'format', 'source_format', 'source', 'columns', 'error', 'samples', 'fields', 'record_bytes', 'tokens', 'unreadable', 'unreadable_rows']);

const STATS = ['count', 'min', 'p50', 'p90', 'p99', 'max', 'mean'] as const;

/** lengthRows are the profile's length statistics: each text field (characters), each record (bytes), tokens per record. */
function lengthRows(p: Record<string, unknown>): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  if (Array.isArray(p.fields)) for (const f of p.fields) if (isObj(f)) out.push({ ...f, what: `${String(f.name)} (characters)` });
  if (isObj(p.record_bytes)) out.push({ ...p.record_bytes, what: 'record (bytes)' });
  if (isObj(p.tokens)) out.push({ ...p.tokens, what: `record (tokens${typeof p.tokens.tokenizer === 'string' ? `, ${p.tokens.tokenizer}` : ''})` });
  return out;
}

/** typesOf writes a column's value types with their counts ("string 498, null 2"). */
const typesOf = (t: unknown) =>
  isObj(t)
    ? Object.entries(t)
        .map(([k, n]) => `${k} ${fmtNum(n)}`)
        .join(', ')
    : '—';

/** DatasetView is one dataset: its facts, the profile and the sample rows computed at upload (no job to run); with onDeleted, a Delete button (onDeleted runs after deleting). */
export function DatasetView({ d, err, onProfile, onDeleted }: { d: Dataset; err?: string; onProfile?: () => void; onDeleted?: () => void }) {
  const profile = isObj(d.profile) ? d.profile : undefined;
  const sum = summaryOf(d);
  const samples = Array.isArray(d.sample) ? d.sample : Array.isArray(d.samples) ? (d.samples as unknown[]) : [];
  const columns = profile && Array.isArray(profile.columns) ? profile.columns.filter(isObj) : [];
  const rest = profile ? Object.fromEntries(Object.entries(profile).filter(([k]) => !SHOWN.has(k))) : {};
  const canonical = profile && typeof profile.format === 'string' ? profile.format : '';
  const unreadable = profile && typeof profile.unreadable === 'number' ? profile.unreadable : 0;
  return (
    <div className="page dataset-page" data-dataset-id={d.dataset_id}>
      <p className="crumbs">
        <Link to="/datasets">Datasets</Link> /
      </p>
      <div className="page-head">
        <h1>{d.name || d.dataset_id}</h1>
        <div className="row wrap">
          {onProfile ? (
            <button type="button" className="primary" onClick={onProfile}>
              Profile this dataset
            </button>
          ) : null}
          {onDeleted ? (
            <DeleteButton kind="dataset" name={d.name || d.dataset_id} id={d.dataset_id} onDelete={() => api.deleteDataset(d.dataset_id)} onDeleted={onDeleted} />
          ) : null}
        </div>
      </div>
      {err ? (
        <div className="banner error" role="alert">
          {err}
        </div>
      ) : null}
      {sum?.error ? (
        <div className="banner error" role="alert">
          The upload could not be read as a dataset: {stripPaths(sum.error)}
        </div>
      ) : null}
      <section className="panel">
        <h2>Details</h2>
        <table className="kv dataset-facts">
          <tbody>
            <tr>
              <th scope="row">detected format</th>
              <td data-fact="format">
                {sum?.format ? <span className="detected">{sum.format}</span> : '—'}
                {canonical && sum?.format && canonical !== sum.format ? <span className="muted"> (read as {canonical})</span> : null}
              </td>
            </tr>
            <tr>
              <th scope="row">file type</th>
              <td data-fact="file-type">{d.format ?? '—'}</td>
            </tr>
            <tr>
              <th scope="row">rows</th>
              <td data-fact="rows">
                {sum && !sum.error ? fmtNum(sum.rows) : '—'}
                {unreadable ? <span className="error-text"> ({fmtNum(unreadable)} unreadable)</span> : null}
              </td>
            </tr>
            <tr>
              <th scope="row">columns</th>
              <td data-fact="columns">{sum?.columns.length ? sum.columns.join(', ') : '—'}</td>
            </tr>
            <tr>
              <th scope="row">size</th>
              <td>{fmtBytes(d.size)}</td>
            </tr>
            <tr>
              <th scope="row">version</th>
              <td data-fact="version">
                <Version v={d.version ?? (d.sha256 ? `sha256:${d.sha256}` : undefined)} copy />
              </td>
            </tr>
            <tr>
              <th scope="row">dataset id</th>
              <td className="mono small">{d.dataset_id}</td>
            </tr>
            <tr>
              <th scope="row">uploaded</th>
              <td>{fmtDate(d.created_at)}</td>
            </tr>
          </tbody>
        </table>
      </section>
      {profile && !sum?.error ? (
        <section className="panel dataset-profile">
          <h2>Profile</h2>
          {columns.length ? (
            <DataTable
              label="Columns"
              className="profile-columns"
              rows={columns}
              rowKey={(c, i) => `${String(c.name)}-${i}`}
              columns={[
                { key: 'name', header: 'Column', cell: (c) => String(c.name ?? '') },
                { key: 'types', header: 'Types', cell: (c) => typesOf(c.types) },
                { key: 'nulls', header: 'Nulls', cell: (c) => fmtNum(c.nulls), className: 'num' },
                { key: 'empty', header: 'Empty strings', cell: (c) => fmtNum(c.empty_strings), className: 'num' },
              ]}
            />
          ) : null}
          {lengthRows(profile).length ? (
            <>
              <h3>Lengths</h3>
              <DataTable
                label="Lengths"
                className="profile-lengths"
                rows={lengthRows(profile)}
                rowKey={(r, i) => `${String(r.what)}-${i}`}
                columns={[
                  { key: 'what', header: 'Field', cell: (r) => String(r.what) },
                  ...STATS.map((k) => ({ key: k, header: k, cell: (r: Record<string, unknown>) => fmtNum(r[k]), className: 'num' })),
                ]}
              />
            </>
          ) : null}
          {unreadable && Array.isArray(profile.unreadable_rows) ? (
            <>
              <h3>Unreadable rows</h3>
              <DataTable
                label="Unreadable rows"
                className="profile-unreadable"
                pageSize={10}
                rows={profile.unreadable_rows.filter(isObj)}
                rowKey={(_, i) => String(i)}
                columns={[
                  { key: 'line', header: 'Line', cell: (r) => fmtNum(r.line), className: 'num' },
                  { key: 'message', header: 'Problem', cell: (r) => stripPaths(String(r.message ?? '')) },
                ]}
              />
            </>
          ) : null}
          {Object.keys(rest).length ? <ReportView report={scrub(rest)} name="profile" /> : null}
        </section>
      ) : null}
      <section className="panel">
        <h2>Sample records</h2>
        {samples.length ? (
          <SampleTable rows={samples} />
        ) : profile ? (
          <p className="muted">No rows could be read from this file.</p>
        ) : (
          <p className="muted">This upload has no profile or sample (it was uploaded before they were kept); “Profile this dataset” runs the dataset agent, whose report lists rows, columns, lengths and samples.</p>
        )}
      </section>
    </div>
  );
}

function SampleTable({ rows }: { rows: unknown[] }) {
  if (!rows.every(isObj))
    return (
      <ol className="samples">
        {rows.map((r, i) => (
          <li key={i}>
            <pre className="code">{typeof r === 'string' ? r : JSON.stringify(r, null, 2)}</pre>
          </li>
        ))}
      </ol>
    );
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r as object)))];
  return (
    <div className="table-wrap">
      <table className="records samples-table">
        <thead>
          <tr>
            <th scope="col">#</th>
            {cols.map((c) => (
              <th key={c} scope="col">
                {c === '_line' ? 'line' : c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i}>
              <td className="num">{i + 1}</td>
              {cols.map((c) => {
                const v = (r as Record<string, unknown>)[c];
                return (
                  <td key={c} className="cell-text">
                    <Cell v={v} />
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const isTurn = (m: unknown): m is { role: string; content: unknown } => isObj(m) && typeof m.role === 'string' && 'content' in m;

/** Cell writes one field of a sample row: text as it is, a conversation as its turns, anything else as JSON. */
function Cell({ v }: { v: unknown }) {
  if (typeof v === 'string') return <>{v}</>;
  if (v === undefined || v === null) return null;
  if (Array.isArray(v) && v.length && v.every(isTurn))
    return (
      <ol className="turns">
        {v.map((m, i) => (
          <li key={i}>
            <span className="role">{m.role}</span>
            {typeof m.content === 'string' ? m.content : JSON.stringify(m.content)}
          </li>
        ))}
      </ol>
    );
  return <>{JSON.stringify(v)}</>;
}
