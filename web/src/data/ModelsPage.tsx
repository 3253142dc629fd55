import { useEffect, useMemo, useState } from 'react';
import { DataTable } from '../ui/DataTable';
import { useFetch } from '../ui/useFetch';
import { LineChart, type Series } from '../ui/charts';
import { api, type DatasetVersion, type Job, type Lineage, type Model } from '../api';
import '../ui/pages.css';
import './data.css';
import { artifactRef, basename, scrub, shortVersion, stripPaths } from './paths';
import { getKey } from '../auth/session';
import { fmtAgo, fmtBytes, fmtDate, fmtNum } from '../ui/format';
import { Link, navigate, useLocation } from '../ui/router';
import { formatFilters, useDebounced, useModelList } from './modelList';
import { withParam } from './pagedList';
import { useAuth } from '../auth/auth';
import { DeleteButton } from '../ui/DeleteButton';

/** fmtValue writes a metadata value for people: numbers grouped, lists joined, maps as key=value. */
export function fmtValue(v: unknown): string {
  if (typeof v === 'number') return fmtNum(v);
  if (typeof v === 'string') return stripPaths(v);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.map(fmtValue).join(', ');
  if (v && typeof v === 'object')
    return Object.entries(v)
      .map(([k, x]) => `${k}=${fmtValue(x)}`)
      .join(', ');
  return v === null || v === undefined ? '—' : String(v);
}

const SKIP = new Set(['model_id', 'name', 'job_id', 'node_id', 'format', 'size', 'created_at', 'meta', 'path', 'uri', 'output', 'team', 'lineage']);

export { basename };

/** DatasetRef is a dataset version as the page shows it: a name (never a path), the uploaded id to link, the version. */
export interface DatasetRef {
  label: string;
  id?: string;
  version?: string;
}

const datasetRef = (d: DatasetVersion): DatasetRef => ({
  label: (d.name && basename(d.name)) || (d.source ? basename(d.source) : '') || d.dataset_id || '?',
  ...(d.dataset_id ? { id: d.dataset_id } : {}),
  ...(d.version ? { version: d.version } : {}),
});

/** lineageRecord is a model's recorded lineage: the model's own (GET /models) or, from older servers, its meta.lineage. */
function lineageRecord(m: Model): Lineage | undefined {
  if (m.lineage && typeof m.lineage === 'object') return m.lineage;
  const l = m.meta?.lineage;
  return l && typeof l === 'object' && !Array.isArray(l) ? (l as Lineage) : undefined;
}

/** ModelLineage is where one model came from, ready to show. */
export interface ModelLineage {
  /** the base model's folder name (never its server path), or a model another run made by node/output (baseJob: that run) */
  base?: string;
  baseJob?: string;
  baseModelID?: string;
  datasets: DatasetRef[];
  jobID?: string;
  node?: string;
  /** the model it was made from: the nearest model upstream in its run (the export's adapter comes from the trained model) */
  parent?: Model;
}

/** upstream lists the nodes before node in a run's graph, nearest first. */
function upstream(job: Job | undefined, node: string): string[] {
  const edges = job?.spec?.edges ?? [];
  const seen = new Set([node]);
  const out: string[] = [];
  for (let level = [node]; level.length; ) {
    const next: string[] = [];
    for (const n of level)
      for (const e of edges)
        if (e.to === n && !seen.has(e.from)) {
          seen.add(e.from);
          next.push(e.from);
        }
    out.push(...next);
    level = next;
  }
  return out;
}

const EXPORTS = new Set(['adapter', 'merged', 'gguf']);

/** modelLineage gathers a model's lineage: base model and dataset versions as recorded, its run and node, and its parent among the run's models. */
export function modelLineage(m: Model, runModels: Model[], job?: Job): ModelLineage {
  const rec = lineageRecord(m);
  const rawBase = [rec?.base_model, m.meta?.base_model].find((b): b is string => typeof b === 'string' && !!b);
  const l: ModelLineage = { datasets: (rec?.datasets ?? []).map(datasetRef) };
  const ref = artifactRef(rawBase);
  if (rawBase && /^mdl_[A-Za-z0-9]+$/.test(rawBase)) l.baseModelID = rawBase;
  else if (ref) {
    l.base = ref.label;
    if (ref.job) l.baseJob = ref.job;
  } else if (rawBase) l.base = basename(rawBase);
  if (m.job_id) l.jobID = m.job_id;
  if (m.node_id) l.node = m.node_id;
  const others = runModels.filter((x) => x.model_id !== m.model_id && x.node_id !== m.node_id);
  const pick = (ms: Model[]) => ms.find((x) => x.output === 'model') ?? ms[0];
  for (const n of m.node_id ? upstream(job, m.node_id) : []) {
    const at = others.filter((x) => x.node_id === n);
    if (at.length) {
      l.parent = pick(at);
      break;
    }
  }
  // without the run's graph: an export's files come from the run's trained model
  if (!l.parent && !job?.spec?.edges?.length && EXPORTS.has(m.output ?? '')) l.parent = pick(others.filter((x) => !EXPORTS.has(x.output ?? '')));
  return l;
}

export interface FileFact {
  path: string;
  size?: number;
  sha256?: string;
}

/** modelFiles lists a model's files with their sizes and sha256 (from its metadata when recorded). */
export function modelFiles(m: Model): FileFact[] {
  const recorded = Array.isArray(m.meta?.files) ? (m.meta!.files as unknown[]) : [];
  const facts = new Map<string, FileFact>();
  for (const f of recorded)
    if (f && typeof f === 'object' && typeof (f as FileFact).path === 'string') {
      const x = f as FileFact;
      facts.set(x.path, { path: x.path, size: typeof x.size === 'number' ? x.size : undefined, sha256: typeof x.sha256 === 'string' ? x.sha256 : undefined });
    }
  for (const f of m.files ?? []) if (!facts.has(f)) facts.set(f, { path: f });
  return [...facts.values()];
}

export interface ModelGroup {
  jobID: string;
  job?: Job;
  models: Model[];
  /** the base model's folder name */
  base?: string;
  /** the dataset versions the run's models came from (from their lineage; else the run's dataset source) */
  datasets: DatasetRef[];
  created?: string;
}

const ORDER = ['adapter', 'merged', 'gguf'];

/** groupModels puts a run's models together (the export's adapter, merged and GGUF first, then the trained model), newest run first. */
export function groupModels(models: Model[], jobs: Job[]): ModelGroup[] {
  const byJob = new Map<string, Model[]>();
  for (const m of models) byJob.set(m.job_id ?? '', [...(byJob.get(m.job_id ?? '') ?? []), m]);
  const jobOf = new Map(jobs.map((j) => [j.job_id, j]));
  const rank = (m: Model) => {
    const i = ORDER.indexOf(m.output ?? '');
    return i < 0 ? ORDER.length : i;
  };
  return [...byJob.entries()]
    .map(([jobID, ms]) => {
      const job = jobOf.get(jobID);
      const sorted = [...ms].sort((a, b) => rank(a) - rank(b) || (a.name ?? '').localeCompare(b.name ?? ''));
      const lins = sorted.map((m) => modelLineage(m, sorted, job));
      const g: ModelGroup = { jobID, job, models: sorted, datasets: [], created: sorted.map((m) => m.created_at ?? '').sort().pop() };
      g.base = lins.map((l) => l.base ?? l.baseModelID).find(Boolean) ?? (job?.summary?.base_model || undefined);
      for (const d of lins.flatMap((l) => l.datasets))
        if (!g.datasets.some((x) => x.label === d.label && x.id === d.id && x.version === d.version)) g.datasets.push(d);
      const src = job?.spec?.nodes.find((n) => n.agent === 'dataset')?.params?.source;
      if (!g.datasets.length && typeof src === 'string' && src) g.datasets.push(/^ds_[A-Za-z0-9]+$/.test(src) ? { label: src, id: src } : { label: basename(src) });
      return g;
    })
    .sort((a, b) => (b.created ?? '').localeCompare(a.created ?? ''));
}

/** shell quotes a word for a POSIX shell when it needs it. */
const sq = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

export interface Snippet {
  id: string;
  title: string;
  lang: string;
  code: string;
}

/** snippets says how to run a run's models: Ollama and llama.cpp (GGUF), `whet generate` and Python (PEFT adapter or merged model). */
export function snippets(g: ModelGroup, origin: string, auth = false): Snippet[] {
  const out: Snippet[] = [];
  const by = (o: string) => g.models.find((m) => m.output === o);
  // plain URLs (never the signed-in key); with auth on, curl sends $WHET_API_KEY
  const url = (m: Model, file?: string) => `${origin}/api/v1/models/${encodeURIComponent(m.model_id)}/download${file ? `?file=${encodeURIComponent(file)}` : ''}`;
  const curl = auth ? 'curl -fL -H "Authorization: Bearer $WHET_API_KEY"' : 'curl -fL';
  const name = (g.job?.name || 'model').toLowerCase().replace(/[^a-z0-9._-]+/g, '-');
  const base = g.base ?? 'BASE_MODEL';
  const prompt = 'Write a short story about a dragon.';
  const gguf = by('gguf');
  if (gguf) {
    const files = modelFiles(gguf).map((f) => f.path);
    const full = files.filter((f) => f.endsWith('.gguf') && !/lora/i.test(f));
    const pick = full.find((f) => /q8_0|q4/i.test(f)) ?? full[0] ?? files.find((f) => f.endsWith('.gguf'));
    const modelfile = files.includes('Modelfile');
    out.push({
      id: 'ollama',
      title: 'Ollama',
      lang: 'sh',
      code: [
        `mkdir -p ${name}-gguf && cd ${name}-gguf`,
        `${curl} ${sq(url(gguf))} | tar -x`,
        ...(modelfile ? [] : [`printf 'FROM ./%s\\n' ${sq(pick ?? 'model.gguf')} > Modelfile`]),
        `ollama create ${name} -f Modelfile`,
        `ollama run ${name} ${sq(prompt)}`,
      ].join('\n'),
    });
    if (pick)
      out.push({
        id: 'llama.cpp',
        title: 'llama.cpp',
        lang: 'sh',
        code: [`${curl} -o ${sq(pick)} ${sq(url(gguf, pick))}`, `llama-cli -m ${sq(pick)} -p ${sq(prompt)} -n 128`].join('\n'),
      });
  }
  const merged = by('merged');
  const adapter = by('adapter') ?? g.models.find((m) => m.output === 'model' && (m.meta?.format === 'peft-lora' || typeof m.meta?.lora === 'object'));
  if (merged || adapter) {
    const m = merged ?? adapter!;
    const dir = `${name}-${merged ? 'merged' : 'adapter'}`;
    out.push({
      id: 'whet',
      title: 'whet generate',
      lang: 'sh',
      code: [
        `mkdir -p ${dir} && ${curl} ${sq(url(m))} | tar -x -C ${dir}`,
        merged
          ? `whet generate --model ${dir} --prompt ${sq(prompt)} --max-new-tokens 128`
          : `whet generate --model path/to/${sq(base)} --adapter ${dir} --prompt ${sq(prompt)} --max-new-tokens 128`,
      ].join('\n'),
    });
  }
  if (adapter || merged) {
    const lines = adapter
      ? [
          `# mkdir -p ${name}-adapter && ${curl} ${sq(url(adapter))} | tar -x -C ${name}-adapter`,
          'from transformers import AutoModelForCausalLM, AutoTokenizer',
          'from peft import PeftModel',
          '',
          `base = AutoModelForCausalLM.from_pretrained("path/to/${base}")  # the base model this adapter was trained on`,
          `tokenizer = AutoTokenizer.from_pretrained("path/to/${base}")`,
          `model = PeftModel.from_pretrained(base, "${name}-adapter")`,
        ]
      : [
          `# mkdir -p ${name}-merged && ${curl} ${sq(url(merged!))} | tar -x -C ${name}-merged`,
          'from transformers import AutoModelForCausalLM, AutoTokenizer',
          '',
          `model = AutoModelForCausalLM.from_pretrained("${name}-merged")`,
          `tokenizer = AutoTokenizer.from_pretrained("${name}-merged")`,
        ];
    out.push({
      id: 'python',
      title: adapter ? 'Python (PEFT)' : 'Python (transformers)',
      lang: 'python',
      code: [...lines, '', `inputs = tokenizer(${JSON.stringify(prompt)}, return_tensors="pt")`, 'print(tokenizer.decode(model.generate(**inputs, max_new_tokens=128)[0]))'].join('\n'),
    });
  }
  return out;
}

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.style.position = 'fixed';
    ta.style.opacity = '0';
    document.body.appendChild(ta);
    ta.select();
    const ok = document.execCommand?.('copy') ?? false;
    ta.remove();
    return ok;
  }
}

export function CopyButton({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState('');
  return (
    <button type="button" className="small" aria-label={label} onClick={() => copyText(text).then((ok) => setDone(ok ? 'Copied' : 'Copy failed'))}>
      {done || 'Copy'}
    </button>
  );
}

export function Snippets({ list, label }: { list: Snippet[]; label: string }) {
  const [tab, setTab] = useState(list[0]?.id ?? '');
  const cur = list.find((s) => s.id === tab) ?? list[0];
  if (!cur) return null;
  return (
    <div className="snippets">
      <div className="tabs" role="tablist" aria-label={`How to run ${label}`}>
        {list.map((s) => (
          <button key={s.id} type="button" role="tab" aria-selected={s.id === cur.id} onClick={() => setTab(s.id)} data-snippet={s.id}>
            {s.title}
          </button>
        ))}
      </div>
      <div className="snippet" role="tabpanel" aria-label={cur.title} data-snippet={cur.id}>
        <h4>
          Run it with {cur.title} <CopyButton text={cur.code} label={`Copy the ${cur.title} snippet`} />
        </h4>
        {/* focusable: a long line scrolls sideways, from the keyboard too */}
        <pre className="code" tabIndex={0} aria-label={`${cur.title} snippet`}>
          <code>{cur.code}</code>
        </pre>
      </div>
    </div>
  );
}

/** ModelsPage lists every model, newest run first, a page at a time ("Show more"), filtered by the server: q (name, model id or run id) and format, both kept in the URL. */
export function ModelsPage() {
  const { query } = useLocation();
  const q = query.get('q') ?? '';
  const format = query.get('format') ?? '';
  const search = useDebounced(q.trim(), 250);
  const { models: list, total, error: err, loading, more, reload } = useModelList(search, format);
  const { canWrite } = useAuth();
  const jobs = useFetch(() => api.jobs(undefined, 1000).then((r) => r.jobs), []);
  const groups = useMemo(() => (list ? groupModels(list, jobs.data ?? []) : []), [list, jobs.data]);
  const filtered = !!(search || format);
  const formatLabel = formatFilters(format).find((f) => f.value === format)?.label ?? format;
  const setQuery = (k: string, v: string) => navigate(withParam('/models', location.search, k, v), true);
  return (
    <div className="page models-page">
      <div className="page-head">
        <h1>Models</h1>
        <div className="filters" role="search">
          <label className="inline">
            <span>Format</span>
            <select value={format} onChange={(e) => setQuery('format', e.target.value)}>
              {formatFilters(format).map((f) => (
                <option key={f.value} value={f.value}>
                  {f.label}
                </option>
              ))}
            </select>
          </label>
          <label className="inline">
            <span>Search</span>
            <input type="search" value={q} placeholder="name, model or run id" onChange={(e) => setQuery('q', e.target.value)} />
          </label>
          <Link className="button" to="/playground">
            Open the playground
          </Link>
        </div>
      </div>
      {err ? (
        <div className="banner error" role="alert">
          Could not load models: {err}
        </div>
      ) : null}
      {list === null && !err ? <p className="muted">Loading…</p> : null}
      {list && !list.length && !filtered ? <p className="muted">No exported models yet. Runs with an export node put their artifacts here.</p> : null}
      {list && !list.length && filtered ? (
        <p className="muted">
          No models{format ? ` in format ${formatLabel}` : ''}
          {search ? ` matching “${search}”` : ''}.
        </p>
      ) : null}
      {list?.length ? (
        <p className="muted small" role="status" data-models-shown={list.length} data-models-total={total}>
          {`${fmtNum(list.length)} of ${fmtNum(total)} ${filtered ? 'matching ' : ''}model${total === 1 ? '' : 's'}`}
        </p>
      ) : null}
      {groups.map((g) => (
        <ModelGroupView key={g.jobID} g={g} onDeleted={canWrite ? reload : undefined} />
      ))}
      {list && total > list.length ? (
        <button type="button" className="link" disabled={loading} onClick={more}>
          {loading ? 'Loading…' : `Show more (${fmtNum(total - list.length)} older)`}
        </button>
      ) : null}
    </div>
  );
}

/** ModelGroupView is one run's models: the run's lineage, a table of its models (each with its own lineage), and how to run them; with onDeleted, each model has a Delete button (onDeleted runs after one is deleted). */
export function ModelGroupView({ g, onDeleted }: { g: ModelGroup; onDeleted?: () => void }) {
  const [open, setOpen] = useState<Record<string, boolean>>({});
  return (
    <section className="panel model-group" data-job-id={g.jobID} aria-label={`Models of ${g.job?.name || g.jobID || 'no run'}`}>
      <header>
        <h2>
          {g.jobID ? <Link to={`/runs/${encodeURIComponent(g.jobID)}`}>{g.job?.name || g.jobID}</Link> : 'Models without a run'}
        </h2>
        <dl className="lineage">
          <div>
            <dt>base model</dt>
            <dd>{g.base ?? '—'}</dd>
          </div>
          <div>
            <dt>{g.datasets.length > 1 ? 'datasets' : 'dataset'}</dt>
            <dd>{g.datasets.length ? <Datasets list={g.datasets} /> : '—'}</dd>
          </div>
          {g.jobID ? (
            <div>
              <dt>run</dt>
              <dd className="mono small">{g.jobID}</dd>
            </div>
          ) : null}
          <div>
            <dt>created</dt>
            <dd title={fmtDate(g.created)}>{fmtAgo(g.created)}</dd>
          </div>
        </dl>
      </header>
      <DataTable
        label={`Models of ${g.job?.name || g.jobID || 'no run'}`}
        className="models-table"
        rows={g.models}
        rowKey={(m) => m.model_id}
        rowProps={(m) => ({ 'data-model-id': m.model_id, 'data-output': m.output })}
        expanded={(m) => (open[m.model_id] ? <History url={api.modelDownloadURL(m.model_id, 'history.json')} /> : null)}
        columns={[
          {
            key: 'name',
            header: 'Model',
            cell: (m: Model) => (
              <>
                <strong>
                  <Link to={`/models/${encodeURIComponent(m.model_id)}`} aria-label={`${m.output || m.name || m.model_id} of ${g.job?.name || m.job_id || 'no run'}: details`}>
                    {m.output || m.name || m.model_id}
                  </Link>
                </strong>
                <div className="muted small">{m.node_id ? `node ${m.node_id}` : ''}</div>
                <div className="mono small muted">{m.model_id}</div>
              </>
            ),
          },
          { key: 'lineage', header: 'Lineage', cell: (m: Model) => <LineageCell l={modelLineage(m, g.models, g.job)} /> },
          { key: 'format', header: 'Format', cell: (m: Model) => m.format ?? (typeof m.meta?.format === 'string' ? m.meta.format : '—') },
          { key: 'size', header: 'Size', cell: (m: Model) => fmtBytes(m.size), className: 'num' },
          {
            key: 'sha',
            header: 'SHA-256',
            cell: (m: Model) => {
              const h = typeof m.meta?.sha256 === 'string' ? m.meta.sha256 : '';
              return h ? (
                <span className="row">
                  <span className="hash" title={h} data-sha256={h}>
                    {h.slice(0, 12)}…
                  </span>
                  <CopyButton text={h} label={`Copy the sha256 of ${m.output || m.model_id}`} />
                </span>
              ) : (
                '—'
              );
            },
          },
          { key: 'meta', header: 'Metadata', cell: (m: Model) => <Meta m={m} /> },
          {
            key: 'files',
            header: 'Files',
            cell: (m: Model) => {
              const files = modelFiles(m);
              return (
                <>
                  <a className="button" href={api.modelDownloadURL(m.model_id)} download aria-label={`${files.length > 1 ? 'Download all (.tar)' : 'Download'} of ${m.output || m.model_id}`}>
                    Download{files.length > 1 ? ' all (.tar)' : ''}
                  </a>
                  {files.length > 1 ? (
                    <details className="files">
                      <summary>{files.length} files</summary>
                      <ul className="files">
                        {files.map((f) => (
                          <li key={f.path}>
                            <a href={api.modelDownloadURL(m.model_id, f.path)} download aria-label={`Download file ${f.path} of ${m.output || m.model_id}`}>
                              {f.path}
                            </a>{' '}
                            <span className="muted small">{fmtBytes(f.size)}</span>{' '}
                            {f.sha256 ? (
                              <span className="hash muted" title={`sha256 ${f.sha256}`}>
                                {f.sha256.slice(0, 12)}
                              </span>
                            ) : null}
                          </li>
                        ))}
                      </ul>
                    </details>
                  ) : null}
                  {m.output === 'adapter' || m.output === 'merged' ? (
                    <Link className="button small" to={`/playground?models=${encodeURIComponent(m.model_id)}`} aria-label={`Try in playground: ${m.output} of ${g.job?.name || m.model_id}`}>
                      Try in playground
                    </Link>
                  ) : null}
                  {onDeleted ? (
                    <DeleteButton
                      className="small"
                      kind="model"
                      name={`${m.output || m.name || m.model_id} of ${g.job?.name || m.job_id || 'no run'}`}
                      id={m.model_id}
                      onDelete={(force) => api.deleteModel(m.model_id, force)}
                      onDeleted={onDeleted}
                    />
                  ) : null}
                  {(m.files ?? []).includes('history.json') ? (
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
      <Snippets list={snippets(g, location.origin, !!getKey())} label={g.job?.name || g.jobID} />
    </section>
  );
}

/** Datasets lists dataset versions: name (linked when uploaded) and the version's first 12 hex digits. */
export function Datasets({ list }: { list: DatasetRef[] }) {
  return (
    <ul className="dataset-versions">
      {list.map((d, i) => (
        <li key={i} data-version={d.version}>
          {d.id ? <Link to={`/datasets/${encodeURIComponent(d.id)}`}>{d.label}</Link> : d.label}
          {d.version ? (
            <>
              {' '}
              <span className="hash muted" title={d.version}>
                @{shortVersion(d.version)}
              </span>
            </>
          ) : null}
        </li>
      ))}
    </ul>
  );
}

/** LineageCell is one model's lineage: base model, dataset versions, run node, parent model. */
function LineageCell({ l }: { l: ModelLineage }) {
  return (
    <dl className="meta model-lineage">
      <div>
        <dt>base model</dt>
        <dd data-lineage="base">
          {l.base && l.baseJob ? (
            <Link to={`/runs/${encodeURIComponent(l.baseJob)}`} title={`${l.base} of run ${l.baseJob}`}>
              {l.base}
            </Link>
          ) : (
            l.base ?? (l.baseModelID ? <span className="mono small">{l.baseModelID}</span> : '—')
          )}
        </dd>
      </div>
      <div>
        <dt>datasets</dt>
        <dd data-lineage="datasets">{l.datasets.length ? <Datasets list={l.datasets} /> : '—'}</dd>
      </div>
      <div>
        <dt>node</dt>
        <dd data-lineage="node">{l.node ?? '—'}</dd>
      </div>
      <div>
        <dt>parent</dt>
        <dd data-lineage="parent" data-parent-id={l.parent?.model_id}>
          {l.parent ? (
            <>
              {l.parent.output || l.parent.name} of {l.parent.node_id} <span className="mono small muted">{l.parent.model_id}</span>
            </>
          ) : (
            '—'
          )}
        </dd>
      </div>
    </dl>
  );
}

function Meta({ m }: { m: Model }) {
  const meta = Object.fromEntries(
    Object.entries({ ...Object.fromEntries(Object.entries(m).filter(([k]) => !SKIP.has(k))), ...(m.meta ?? {}) })
      // lineage and base_model are in the Lineage column
      .filter(([k]) => !['files', 'size', 'format', 'history', 'sha256', 'lineage', 'base_model'].includes(k))
      .map(([k, v]) => [k, scrub(v)]),
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
export function History({ url }: { url: string }) {
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
