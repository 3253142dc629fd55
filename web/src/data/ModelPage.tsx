// One model (/models/{id}): what it is (name, id, format, size, created, the
// run and node that made it), where it came from (base model and version,
// datasets, the model upstream in its run, and the chain of ancestor models
// when the API gives one), how good it is (its metrics, training curve, GGUF
// checks and the evaluations its run made), its files with downloads, and
// how to build on it (a pipeline that starts from it, opened in the editor).

import { useEffect, useState } from 'react';
import { api, Problem, type Job, type Model } from '../api';
import { DataTable } from '../ui/DataTable';
import { LineChart } from '../ui/charts';
import { fmtAgo, fmtBytes, fmtDate, fmtNum } from '../ui/format';
import { Link, navigate } from '../ui/router';
import { getKey } from '../auth/session';
import { fromSpec } from '../editor/pipeline';
import { DRAFT_KEY, saveDraft } from '../editor/draft';
import { StatusBadge } from '../runs/RunsPage';
import { CopyButton, Datasets, History, Snippets, fmtValue, groupModels, modelFiles, modelLineage, snippets, type ModelLineage } from './ModelsPage';
import { runModels } from './modelList';
import {
  baseSnippet,
  basePipeline,
  ggufChecks,
  hyperparameters,
  metaCharts,
  modelChain,
  modelEvaluations,
  modelFormat,
  modelMetrics,
  otherMeta,
  usableAsBase,
  type ChainLink,
  type GGUFCheck,
  type RunEvaluation,
} from './model';
import { shortVersion, stripPaths } from './paths';
import { useAuth } from '../auth/auth';
import { DeleteButton } from '../ui/DeleteButton';
import '../ui/pages.css';
import '../runs/run.css';
import './data.css';

/** loadFailure says why a model's page has no model: not found (404), or the error. */
export function loadFailure(id: string, e: unknown): { notFound: boolean; text: string } {
  if (e instanceof Problem && e.status === 404)
    return { notFound: true, text: `There is no model ${id} on this server, or it belongs to another team.` };
  return { notFound: false, text: `Could not load model ${id}: ${stripPaths((e as Error)?.message || String(e))}` };
}

export function ModelPage({ id }: { id: string }) {
  const [m, setM] = useState<Model | null>(null);
  const [err, setErr] = useState<unknown>(null);
  const [job, setJob] = useState<Job | null>(null);
  const [jobErr, setJobErr] = useState('');
  // the run's models (GET /models?q=<job_id>) and the base model's name (GET /models/{id}): found however many models the server has
  const [runModelList, setRunModels] = useState<Model[]>([]);
  const [names, setNames] = useState<Map<string, string>>(new Map());
  // the ids whose names are being fetched (shown as a placeholder, not as the id, until they come)
  const [loadingNames, setLoadingNames] = useState<ReadonlySet<string>>(new Set());
  useEffect(() => {
    let stop = false;
    api.model(id).then(
      (x) => {
        if (stop) return;
        setM(x);
        // the base model, when it is a model of this server: its name
        const baseID = modelLineage(x, [x]).baseModelID;
        if (baseID) {
          setLoadingNames(new Set([baseID]));
          api
            .model(baseID)
            .then(
              (b) => !stop && setNames(new Map([[baseID, b.name ?? '']])),
              () => {},
            )
            .finally(() => !stop && setLoadingNames(new Set()));
        }
        if (!x.job_id) return;
        runModels(x.job_id).then((ms) => !stop && setRunModels(ms), () => {});
        api.job(x.job_id).then(
          (j) => !stop && setJob(j),
          (e: Error) => !stop && setJobErr(e instanceof Problem && e.status === 404 ? 'its run is no longer stored' : e.message),
        );
      },
      (e) => !stop && setErr(e),
    );
    return () => {
      stop = true;
    };
  }, [id]);
  if (!m) {
    const f = err ? loadFailure(id, err) : null;
    return (
      <div className="page model-page">
        <p className="crumbs">
          <Link to="/models">Models</Link> /
        </p>
        <h1>{f?.notFound ? 'Model not found' : `Model ${id}`}</h1>
        {f ? (
          <div className="banner error" role="alert" data-not-found={f.notFound || undefined}>
            {f.text} <Link to="/models">See every model</Link>
          </div>
        ) : (
          <p className="muted">Loading…</p>
        )}
      </div>
    );
  }
  return <ModelView m={m} job={job} jobErr={jobErr} runModels={runModelList} names={names} loadingNames={loadingNames} />;
}

export interface ModelViewProps {
  m: Model;
  /** the run that made it (null while loading or when it is gone) */
  job?: Job | null;
  jobErr?: string;
  /** every model of its run (this one included) */
  runModels?: Model[];
  /** the names of the models of this server by id, to name a base model given by id */
  names?: Map<string, string>;
  /** ids whose names are still being fetched: a placeholder stands for the name (not the raw id) until it comes */
  loadingNames?: ReadonlySet<string>;
}

/** ModelView is one model's page, given the model, its run and the run's models. */
export function ModelView({ m, job, jobErr, runModels = [], names, loadingNames }: ModelViewProps) {
  const models = runModels.some((x) => x.model_id === m.model_id) ? runModels : [m, ...runModels];
  const l = modelLineage(m, models, job ?? undefined);
  const fmt = modelFormat(m);
  const files = modelFiles(m);
  const sha = typeof m.meta?.sha256 === 'string' ? m.meta.sha256 : '';
  const title = m.name ? stripPaths(m.name) : m.model_id;
  const what = m.output || fmt.format || 'model';
  const evals = modelEvaluations(m, job, l.parent);
  const history = (m.files ?? []).includes('history.json') ? m : (l.parent?.files ?? []).includes('history.json') ? l.parent : undefined;
  const group = groupModels([m], job ? [job] : [])[0];
  const runSnippets = group ? snippets(group, location.origin, !!getKey()) : [];
  const siblings = models.filter((x) => x.model_id !== m.model_id);
  const { canWrite } = useAuth();
  return (
    <div className="page model-page" data-model-id={m.model_id}>
      <p className="crumbs">
        <Link to="/models">Models</Link> /{' '}
        {m.job_id ? <Link to={`/runs/${encodeURIComponent(m.job_id)}`}>{job?.name || m.job_id}</Link> : null}
      </p>
      <div className="page-head">
        <h1>{title}</h1>
        <div className="row wrap">
          <a className="button" href={api.modelDownloadURL(m.model_id)} download title={files.length > 1 ? 'every file in one .tar' : undefined}>
            Download{files.length > 1 ? ' all (.tar)' : ''}
          </a>
          {m.output === 'adapter' || m.output === 'merged' ? (
            <Link className="button" to={`/playground?models=${encodeURIComponent(m.model_id)}`}>
              Try in playground
            </Link>
          ) : null}
          {canWrite ? (
            <DeleteButton kind="model" name={title} id={m.model_id} onDelete={(force) => api.deleteModel(m.model_id, force)} onDeleted={() => navigate('/models')} />
          ) : null}
        </div>
      </div>
      <section className="panel" aria-labelledby="model-details">
        <h2 id="model-details">Details</h2>
        <table className="kv model-facts">
          <tbody>
            <tr>
              <th scope="row">model id</th>
              <td data-fact="id">
                <span className="row">
                  <span className="mono small">{m.model_id}</span>
                  <CopyButton text={m.model_id} label="Copy the model id" />
                </span>
              </td>
            </tr>
            <tr>
              <th scope="row">format</th>
              <td data-fact="format" data-format={fmt.format}>
                {fmt.label}
                {fmt.label !== fmt.format && fmt.format ? <span className="muted small"> ({fmt.format})</span> : null}
                {fmt.ollama ? <span className="muted"> · with an Ollama Modelfile</span> : null}
              </td>
            </tr>
            <tr>
              <th scope="row">size</th>
              <td data-fact="size" title={m.size !== undefined ? `${fmtNum(m.size)} bytes` : undefined}>
                {fmtBytes(m.size)}
                {files.length ? <span className="muted"> in {files.length === 1 ? '1 file' : `${files.length} files`}</span> : null}
              </td>
            </tr>
            <tr>
              <th scope="row">created</th>
              <td data-fact="created" title={fmtDate(m.created_at)}>
                {m.created_at ? `${fmtAgo(m.created_at)} (${fmtDate(m.created_at)})` : '—'}
              </td>
            </tr>
            <tr>
              <th scope="row">made by</th>
              <td data-fact="run">
                {m.job_id ? (
                  <>
                    {m.node_id ? (
                      <>
                        output <strong>{what}</strong> of node <strong>{m.node_id}</strong>
                        {job?.spec ? <span className="muted"> ({job.spec.nodes.find((n) => n.id === m.node_id)?.agent})</span> : null} in run{' '}
                      </>
                    ) : (
                      'run '
                    )}
                    <Link to={`/runs/${encodeURIComponent(m.job_id)}`}>{job?.name || m.job_id}</Link>
                    {job ? (
                      <>
                        {' '}
                        <StatusBadge status={job.status} />
                      </>
                    ) : null}
                    {jobErr ? <span className="muted small"> ({stripPaths(jobErr)})</span> : null}
                  </>
                ) : (
                  '—'
                )}
              </td>
            </tr>
            {sha ? (
              <tr>
                <th scope="row">sha256</th>
                <td data-fact="sha256">
                  <span className="row">
                    <span className="hash" title={sha} data-sha256={sha}>
                      {sha.slice(0, 12)}…
                    </span>
                    <CopyButton text={sha} label="Copy the sha256" />
                  </span>
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </section>
      <LineageSection m={m} l={l} chain={modelChain(m)} names={names} loadingNames={loadingNames} />
      <MetricsSection m={m} history={history} parentLabel={history && history !== m ? `${history.node_id}/${history.output}` : undefined} />
      <EvaluationSection e={evals} jobID={m.job_id} />
      <FilesSection m={m} />
      <UseAsBase m={m} job={job} siblings={siblings} />
      {runSnippets.length ? (
        <section className="panel" aria-labelledby="model-run">
          <h2 id="model-run">Run it</h2>
          <Snippets list={runSnippets} label={title} />
        </section>
      ) : null}
      <SettingsSection m={m} />
      {siblings.length ? (
        <section className="panel" aria-labelledby="model-siblings">
          <h2 id="model-siblings">Other models of this run</h2>
          <ul className="model-siblings">
            {siblings.map((x) => (
              <li key={x.model_id} data-model-id={x.model_id}>
                <Link to={`/models/${encodeURIComponent(x.model_id)}`}>{x.output || x.name || x.model_id}</Link>
                <span className="muted small">
                  {' '}
                  {modelFormat(x).label} · {fmtBytes(x.size)}
                  {x.node_id ? ` · node ${x.node_id}` : ''}
                </span>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
    </div>
  );
}

/** ModelRef links a model of this server to its page, by label (else its id; pending: a placeholder while its name loads). */
function ModelRef({ id, label, pending }: { id: string; label?: string; pending?: boolean }) {
  if (!label && pending)
    return (
      <Link to={`/models/${encodeURIComponent(id)}`} title={id} aria-busy="true" data-name-pending="">
        <span className="muted">loading name…</span>
      </Link>
    );
  return (
    <Link to={`/models/${encodeURIComponent(id)}`} title={label && label !== id ? id : undefined}>
      {label || id}
    </Link>
  );
}

/** baseName is the name of the base model given by id: fetched (names), else the one its chain gives; undefined when unknown. */
export function baseName(id: string, chain: ChainLink[], names?: Map<string, string>): string | undefined {
  const fetched = names?.get(id);
  if (fetched) return stripPaths(fetched);
  const link = chain.find((c) => c.id === id && !c.self);
  return link && link.label !== id ? link.label : undefined;
}

function LineageSection({ m, l, chain, names, loadingNames }: { m: Model; l: ModelLineage; chain: ChainLink[]; names?: Map<string, string>; loadingNames?: ReadonlySet<string> }) {
  const version = typeof m.lineage?.base_model_version === 'string' ? m.lineage.base_model_version : '';
  return (
    <section className="panel" aria-labelledby="model-lineage">
      <h2 id="model-lineage">Lineage</h2>
      <table className="kv model-lineage-facts">
        <tbody>
          <tr>
            <th scope="row">base model</th>
            <td data-lineage="base">
              {l.baseModelID ? (
                <ModelRef id={l.baseModelID} label={baseName(l.baseModelID, chain, names)} pending={loadingNames?.has(l.baseModelID)} />
              ) : l.base && l.baseJob ? (
                <Link to={`/runs/${encodeURIComponent(l.baseJob)}`} title={`${l.base} of run ${l.baseJob}`}>
                  {l.base}
                </Link>
              ) : (
                (l.base ?? '—')
              )}
              {version ? (
                <>
                  {' '}
                  <span className="hash muted" title={version} data-base-version={version}>
                    @{shortVersion(version)}
                  </span>
                </>
              ) : null}
            </td>
          </tr>
          <tr>
            <th scope="row">{l.datasets.length > 1 ? 'datasets' : 'dataset'}</th>
            <td data-lineage="datasets">{l.datasets.length ? <Datasets list={l.datasets} /> : '—'}</td>
          </tr>
          {l.parent ? (
            <tr>
              <th scope="row">made from</th>
              <td data-lineage="parent" data-parent-id={l.parent.model_id}>
                <ModelRef id={l.parent.model_id} label={`${l.parent.output || l.parent.name} of ${l.parent.node_id}`} />{' '}
                <span className="muted small">(the model upstream in its run)</span>
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
      {chain.length > 1 ? (
        <div className="model-chain-wrap">
          <h3>Chain</h3>
          <ol className="model-chain" aria-label="Chain of models, base first">
            {chain.map((c, i) => (
              <li key={`${c.id ?? c.label}/${i}`} data-chain-id={c.id} aria-current={c.self ? 'page' : undefined}>
                {c.self ? <strong>{c.label}</strong> : c.id ? <ModelRef id={c.id} label={c.label} /> : c.label}
                {c.version ? (
                  <span className="hash muted" title={c.version}>
                    {' '}
                    @{shortVersion(c.version)}
                  </span>
                ) : null}
                {c.datasets?.length ? <span className="muted small"> on {c.datasets.join(', ')}</span> : null}
                {c.job && !c.self ? (
                  <span className="muted small">
                    {' '}
                    (<Link to={`/runs/${encodeURIComponent(c.job)}`}>run</Link>)
                  </span>
                ) : null}
              </li>
            ))}
          </ol>
        </div>
      ) : null}
    </section>
  );
}

const label = (k: string) => k.replace(/_/g, ' ');

function MetricsSection({ m, history, parentLabel }: { m: Model; history?: Model; parentLabel?: string }) {
  const metrics = modelMetrics(m);
  const charts = metaCharts(m);
  const checks = ggufChecks(m);
  if (!metrics.length && !charts.length && !checks.length && !history) return null;
  return (
    <section className="panel" aria-labelledby="model-metrics">
      <h2 id="model-metrics">Metrics</h2>
      {metrics.length ? (
        <dl className="run-stats model-metrics">
          {metrics.map((x) => (
            <div key={x.key} data-metric={x.key}>
              <dt>{label(x.key)}</dt>
              <dd className="num" title={String(x.value)}>
                {fmtNum(x.value)}
              </dd>
            </div>
          ))}
        </dl>
      ) : null}
      {history ? (
        <div className="model-history">
          <h3>Training curve{parentLabel ? <span className="muted small"> of {parentLabel}, the model it was exported from</span> : null}</h3>
          <History url={api.modelDownloadURL(history.model_id, 'history.json')} />
        </div>
      ) : null}
      {charts.length ? (
        <div className="charts">
          {charts.map((c) => (
            <LineChart key={c.title} title={c.title} series={c.series} />
          ))}
        </div>
      ) : null}
      {checks.length ? (
        <>
          <h3>GGUF checks</h3>
          <p className="muted small">Each file against the model it was converted from: greedy tokens that agree and the largest log-probability gap.</p>
          <DataTable<GGUFCheck>
            label="GGUF checks"
            className="gguf-checks"
            rows={checks}
            rowKey={(c) => c.file}
            rowProps={(c) => ({ 'data-file': c.file })}
            columns={[
              { key: 'file', header: 'File', cell: (c) => c.file, className: 'mono small' },
              { key: 'type', header: 'Type', cell: (c) => c.type ?? '—' },
              { key: 'agree', header: 'Greedy agreement', cell: (c) => (c.greedy_agreement === undefined ? '—' : `${fmtNum(c.greedy_agreement * 100)} %`), className: 'num' },
              { key: 'gap', header: 'Max log-prob gap', cell: (c) => fmtNum(c.max_logprob_gap), className: 'num' },
              {
                key: 'passed',
                header: 'Passed',
                cell: (c) => (c.passed === undefined ? '—' : c.passed ? <span className="ok-text">passed</span> : <span className="error-text">failed</span>),
              },
            ]}
          />
        </>
      ) : null}
    </section>
  );
}

function EvaluationSection({ e, jobID }: { e: RunEvaluation; jobID?: string }) {
  if (!e.evaluations.length) return null;
  return (
    <section className="panel" aria-labelledby="model-eval">
      <h2 id="model-eval">Evaluation</h2>
      {e.headline ? (
        <p className={`run-headline verdict-${e.headline.verdict}`} data-headline={e.headline.verdict}>
          <strong>{e.headline.text}</strong> <span className="muted small">(node {e.headline.node})</span>
        </p>
      ) : null}
      {e.evaluations.map((x) => (
        <div key={x.node} className="model-evaluation" data-eval-node={x.node}>
          <h3>
            {x.node}
            <span className="muted small">
              {' '}
              {x.own ? 'evaluated this model' : x.of ? `evaluated ${x.of}, the model this one was exported from` : 'evaluated a model of this run'}
              {jobID ? (
                <>
                  {' '}
                  · <Link to={`/runs/${encodeURIComponent(jobID)}`}>full report in the run</Link>
                </>
              ) : null}
            </span>
          </h3>
          <dl className="run-stats">
            {x.metrics.map((k) => (
              <div key={k.key} data-metric={k.key}>
                <dt>{label(k.key)}</dt>
                <dd className="num" title={String(k.value)}>
                  {fmtNum(k.value)}
                </dd>
              </div>
            ))}
          </dl>
        </div>
      ))}
    </section>
  );
}

function FilesSection({ m }: { m: Model }) {
  const files = modelFiles(m);
  return (
    <section className="panel model-files-panel" aria-labelledby="model-files">
      <div className="panel-head">
        <h2 id="model-files">Files</h2>
        {files.length > 1 ? (
          <a className="button small download-all" href={api.modelDownloadURL(m.model_id)} download title="every file in one .tar">
            Download all (.tar)
          </a>
        ) : null}
      </div>
      <DataTable
        label="Files"
        className="model-files"
        rows={files}
        rowKey={(f) => f.path}
        rowProps={(f) => ({ 'data-file': f.path })}
        empty={<p className="muted">No files recorded.</p>}
        columns={[
          {
            key: 'file',
            header: 'File',
            cell: (f) => (
              <a href={api.modelDownloadURL(m.model_id, f.path)} download aria-label={`Download ${f.path}`}>
                {f.path}
              </a>
            ),
          },
          { key: 'size', header: 'Size', cell: (f) => fmtBytes(f.size), className: 'num', title: (f) => (f.size !== undefined ? `${fmtNum(f.size)} bytes` : undefined) },
          {
            key: 'sha',
            header: 'SHA-256',
            cell: (f) =>
              f.sha256 ? (
                <span className="hash muted" title={f.sha256}>
                  {f.sha256.slice(0, 12)}
                </span>
              ) : (
                '—'
              ),
          },
        ]}
      />
    </section>
  );
}

/** openAsBase puts a pipeline that starts from the model in the editor's draft (after asking, when the draft has nodes) and opens the editor. */
async function openAsBase(m: Model, job?: Job | null) {
  try {
    const old = JSON.parse(localStorage.getItem(DRAFT_KEY) ?? 'null') as { nodes?: unknown[] } | null;
    if (old?.nodes?.length && !window.confirm('Replace the pipeline in the editor with one that fine-tunes this model?')) return;
  } catch {
    /* a bad draft is replaced */
  }
  const agents = await api.agents().catch(() => []);
  saveDraft(fromSpec(basePipeline(m, job), agents));
  navigate('/');
}

function UseAsBase({ m, job, siblings }: { m: Model; job?: Job | null; siblings: Model[] }) {
  const ok = usableAsBase(m);
  const alt = ok ? undefined : siblings.find(usableAsBase);
  const yaml = baseSnippet(m.model_id);
  return (
    <section className="panel use-as-base" aria-labelledby="model-base">
      <h2 id="model-base">Use as base model</h2>
      {ok ? (
        <>
          <p>
            A train node starts from this model when its <code>base_model</code> is <code className="mono">{m.model_id}</code>.{' '}
            {job?.spec?.nodes.some((n) => n.agent === 'train') ? 'The editor opens with its run’s pipeline (same data and settings), trained from this model.' : 'The editor opens with a dataset → preprocess → train → export pipeline trained from this model.'}
          </p>
          <div className="row wrap">
            <button type="button" className="primary" onClick={() => void openAsBase(m, job)}>
              Fine-tune this model in the editor
            </button>
          </div>
          <div className="snippet">
            <h4>
              Or in a pipeline’s YAML <CopyButton text={yaml} label="Copy the train node's YAML" />
            </h4>
            <pre className="code" tabIndex={0} aria-label="Train node YAML">
              <code>{yaml}</code>
            </pre>
          </div>
        </>
      ) : (
        <p className="muted" data-not-base="">
          A train node needs a Hugging Face model folder (config.json and weights); this is a {modelFormat(m).label}.
          {alt ? (
            <>
              {' '}
              Start from <ModelRef id={alt.model_id} label={`the ${alt.output || alt.name} model of this run`} /> instead.
            </>
          ) : null}
        </p>
      )}
    </section>
  );
}

function SettingsSection({ m }: { m: Model }) {
  const hp = hyperparameters(m);
  const rest = otherMeta(m);
  if (!hp.length && !rest.length) return null;
  const list = (rows: [string, unknown][], name: string) => (
    <dl className="meta" data-meta={name}>
      {rows.map(([k, v]) => (
        <div key={k}>
          <dt>{label(k)}</dt>
          <dd>{fmtValue(v)}</dd>
        </div>
      ))}
    </dl>
  );
  return (
    <section className="panel" aria-labelledby="model-settings">
      <h2 id="model-settings">Settings and metadata</h2>
      {hp.length ? (
        <>
          <h3>Trained with</h3>
          {list(hp, 'hyperparameters')}
        </>
      ) : null}
      {rest.length ? (
        <>
          <h3>Metadata</h3>
          {list(rest, 'other')}
        </>
      ) : null}
    </section>
  );
}
