import { useEffect, useRef, useState } from 'react';
import { DataTable } from '../ui/DataTable';
import { useFetch } from '../ui/useFetch';
import { api, upload, type Dataset } from '../api';
import { rememberSpec } from '../runs/specs';
import { navigate } from '../ui/router';
import { fmtAgo, fmtBytes, fmtDate, fmtNum } from '../ui/format';
import { ReportView } from '../ui/ReportView';
import { Link } from '../ui/router';
import { useAuth } from '../auth/auth';

export function DatasetsPage() {
  const { data: list, error: err, reload } = useFetch(() => api.datasets(), []);
  const { canWrite } = useAuth();
  return (
    <div className="page">
      <div className="page-head">
        <h1>Datasets</h1>
      </div>
      {canWrite ? <Uploader onDone={reload} /> : null}
      {err ? (
        <div className="banner error" role="alert">
          Could not load datasets: {err}
        </div>
      ) : null}
      {list === null && !err ? <p className="muted">Loading…</p> : null}
      {list && !list.length ? <p className="muted">No datasets yet. Upload a JSON, JSONL, CSV, Parquet or text file above.</p> : null}
      {list?.length ? (
        <DataTable
          label="Datasets"
          className="datasets-table"
          rows={list}
          rowKey={(d) => d.dataset_id}
          rowProps={(d) => ({ 'data-dataset-id': d.dataset_id })}
          columns={[
            { key: 'name', header: 'Name', cell: (d: Dataset) => <Link to={`/datasets/${encodeURIComponent(d.dataset_id)}`}>{d.name || d.dataset_id}</Link> },
            { key: 'format', header: 'Format', cell: (d: Dataset) => d.format ?? '—' },
            { key: 'size', header: 'Size', cell: (d: Dataset) => fmtBytes(d.size), className: 'num' },
            { key: 'rows', header: 'Rows', cell: (d: Dataset) => (d.rows !== undefined ? fmtNum(d.rows) : '—'), className: 'num' },
            { key: 'uploaded', header: 'Uploaded', cell: (d: Dataset) => fmtAgo(d.created_at), title: (d: Dataset) => fmtDate(d.created_at) },
            { key: 'id', header: 'Id', cell: (d: Dataset) => d.dataset_id, className: 'mono small' },
          ]}
        />
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
      setMsg({ kind: 'info', text: `Uploaded ${d.name || file.name} (${fmtBytes(d.size)}) as `, id: d.dataset_id });
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

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

export function DatasetPage({ id }: { id: string }) {
  const [d, setD] = useState<Dataset | null>(null);
  const [err, setErr] = useState('');
  const [canProfile, setCanProfile] = useState(false);
  const { canWrite } = useAuth();
  useEffect(() => {
    api.dataset(id).then(setD, (e: Error) => setErr(e.message));
    api.agents().then((as) => setCanProfile(as.some((a) => a.name === 'dataset')), () => {});
  }, [id]);
  // The profile and sample records come from the dataset agent's report: run it on this dataset.
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
  const { profile, sample, ...rest } = d;
  const samples = Array.isArray(sample) ? sample : Array.isArray(d.samples) ? (d.samples as unknown[]) : [];
  const facts = Object.fromEntries(Object.entries(rest).filter(([k, v]) => k !== 'samples' && (typeof v !== 'object' || v === null)));
  return (
    <div className="page dataset-page">
      <p className="crumbs">
        <Link to="/datasets">Datasets</Link> /
      </p>
      <div className="page-head">
        <h1>{d.name || id}</h1>
        {canProfile && canWrite ? (
          <button type="button" className="primary" onClick={runProfile}>
            Profile this dataset
          </button>
        ) : null}
      </div>
      {err ? (
        <div className="banner error" role="alert">
          {err}
        </div>
      ) : null}
      <section className="panel">
        <h2>Details</h2>
        <table className="kv">
          <tbody>
            {Object.entries(facts).map(([k, v]) => (
              <tr key={k}>
                <th scope="row">{k.replace(/_/g, ' ')}</th>
                <td className={k === 'sha256' || k === 'dataset_id' ? 'mono small' : undefined}>
                  {k === 'size' ? fmtBytes(v as number) : k.endsWith('_at') ? fmtDate(v as string) : typeof v === 'number' ? fmtNum(v) : String(v)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {profile !== undefined && profile !== null ? (
        <section className="panel">
          <h2>Profile</h2>
          <ReportView report={profile} name="profile" />
        </section>
      ) : null}
      <section className="panel">
        <h2>Sample records</h2>
        {samples.length ? (
          <SampleTable rows={samples} />
        ) : (
          <p className="muted">The server keeps no sample with the upload; “Profile this dataset” runs the dataset agent, whose report lists rows, columns, lengths and samples.</p>
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
                {c}
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
                    {typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v)}
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
