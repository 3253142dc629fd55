// The top of a run page: failed nodes with their errors, the base-vs-tuned
// headline, status, duration, node counts (cached ones too), the key metrics
// and the dataset versions the job read. And the compare report's
// contamination check, written out as sentences and a table of row pairs.

import type { Job } from '../api';
import { DataTable } from '../ui/DataTable';
import { fmtDuration, fmtNum } from '../ui/format';
import { Link } from '../ui/router';
import { StatusBadge } from './RunsPage';
import { datasetLabel, runOverview, shortVersion, type Headline } from './summary';
import './run.css';

function HeadlineLine({ h }: { h: Headline }) {
  const counts =
    h.wins !== undefined && h.ties !== undefined && h.losses !== undefined
      ? `wins ${h.wins}, ties ${h.ties}, loses ${h.losses} of ${h.wins + h.ties + h.losses}`
      : '';
  const sig = h.significant === undefined ? '' : h.significant ? 'significant' : 'not significant (the interval of the change includes 0)';
  const note = [sig, counts].filter(Boolean).join('; ');
  return (
    <p className={`run-headline verdict-${h.verdict}`} data-headline={h.verdict} data-node={h.node}>
      <strong>{h.text}</strong>
      {note ? <span className="muted small"> · {note}</span> : null}
    </p>
  );
}

export interface RunSummaryProps {
  job: Job;
  /** the live status (the stream may be ahead of the last GET) */
  status: string;
  /** milliseconds the job ran (or has been running), if it started */
  duration?: number;
  finished: boolean;
  /** show the log lines of a node */
  onShowLog?: (node: string) => void;
}

/** RunSummary is the first section of a run page. */
export function RunSummary({ job, status, duration, finished, onShowLog }: RunSummaryProps) {
  const o = runOverview(job);
  const [ok, total] = o.nodes;
  return (
    <section className="panel run-summary" aria-label="Summary">
      {o.failed.map((f) => (
        <div key={f.node} className="banner error failed-node" role="alert" data-failed-node={f.node}>
          <strong>
            Node {f.node} ({f.agent}) failed{f.attempts && f.attempts > 1 ? ` after ${f.attempts} tries` : ''}:
          </strong>{' '}
          <span className="failed-error">{f.error}</span>
          {onShowLog ? (
            <>
              {' '}
              <button type="button" className="link" onClick={() => onShowLog(f.node)}>
                Show its log
              </button>
            </>
          ) : null}
        </div>
      ))}
      {!o.failed.length && job.error ? (
        <div className="banner error" role="alert">
          {job.error}
        </div>
      ) : null}
      {o.headline ? <HeadlineLine h={o.headline} /> : null}
      <dl className="run-stats">
        <div data-stat="status">
          <dt>Status</dt>
          <dd>
            <StatusBadge status={status} />
          </dd>
        </div>
        <div data-stat="duration">
          <dt>{finished ? 'Duration' : 'Running for'}</dt>
          <dd className="num">{duration === undefined ? '—' : fmtDuration(duration)}</dd>
        </div>
        <div data-stat="nodes">
          <dt>Nodes</dt>
          <dd>
            {total ? `${ok}/${total} succeeded` : '—'}
            {o.cached.length ? (
              <>
                {' '}
                <span className="badge cached" title={`outputs reused from identical earlier runs: ${o.cached.join(', ')}`}>
                  {o.cached.length} cached
                </span>
              </>
            ) : null}
          </dd>
        </div>
        {o.metrics.map((m) => (
          <div key={`${m.key}/${m.node}/${m.label}`} data-stat={m.key} data-node={m.node}>
            <dt>{m.label}</dt>
            <dd className="num" title={`${m.value} (node ${m.node})`}>
              {fmtNum(m.value)}
              {m.base !== undefined ? <span className="muted small"> (base {fmtNum(m.base)})</span> : null}
            </dd>
          </div>
        ))}
      </dl>
      {o.datasets.length ? (
        <div className="run-datasets">
          <span className="muted">Data read:</span>
          <ul>
            {o.datasets.map((d) => (
              <li key={`${d.dataset_id ?? d.source}/${d.version}`} data-dataset-id={d.dataset_id || undefined} data-version={d.version}>
                {d.dataset_id ? <Link to={`/datasets/${encodeURIComponent(d.dataset_id)}`}>{datasetLabel(d)}</Link> : <span title={d.source}>{datasetLabel(d)}</span>}
                {d.dataset_id ? <span className="mono small muted"> {d.dataset_id}</span> : null}{' '}
                <code className="mono small" title={d.version}>
                  {shortVersion(d.version)}
                </code>
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </section>
  );
}

/** Contamination is the compare report's train/eval overlap check (internal/eval Contamination). */
export interface Contamination {
  ngram: number;
  train_file: string;
  eval_file: string;
  train_rows: number;
  rows: number;
  findings: { train_row: number; eval_row: number; shared: number }[] | null;
}

const base = (p: string) => p.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? p;

/** ContaminationView writes out a compare report's contamination check; c is undefined when it was not made. */
export function ContaminationView({ c }: { c?: Contamination | null }) {
  if (!c)
    return (
      <section className="report-section contamination" data-contaminated="unchecked">
        <h3>Contamination</h3>
        <p className="muted">Not checked: no training split was found next to the evaluated rows.</p>
      </section>
    );
  const findings = c.findings ?? [];
  const pct = c.train_rows ? (100 * c.rows) / c.train_rows : 0;
  return (
    <section className="report-section contamination" data-contaminated={c.rows}>
      <h3>Contamination</h3>
      {c.rows ? (
        <p className="warn-text">
          <strong>
            {c.rows.toLocaleString('en')} of {c.train_rows.toLocaleString('en')} training rows ({pct < 0.1 ? '<0.1' : fmtNum(Number(pct.toFixed(1)))} %) share a {c.ngram}-word
            sequence with an evaluated row
          </strong>
          : the fine-tune may have seen those answers, so its scores on them can be inflated. Drop them with preprocess <code>decontaminate: true</code>.
        </p>
      ) : (
        <p className="ok-text">
          None: no training row shares a {c.ngram}-word sequence with an evaluated row ({c.train_rows.toLocaleString('en')} training rows checked).
        </p>
      )}
      <p className="muted small">
        <span title={c.train_file}>{base(c.train_file)}</span> checked against <span title={c.eval_file}>{base(c.eval_file)}</span>
        {findings.length < c.rows ? `; the first ${findings.length} findings are listed` : ''}
      </p>
      {findings.length ? (
        <DataTable
          label="Contaminated rows"
          className="contamination-findings"
          rows={findings}
          rowKey={(f, i) => `${f.train_row}/${f.eval_row}/${i}`}
          pageSize={10}
          columns={[
            { key: 'train', header: 'Training row', className: 'num', cell: (f) => f.train_row },
            { key: 'eval', header: 'Evaluated row', className: 'num', cell: (f) => f.eval_row },
            { key: 'shared', header: `Shared ${c.ngram}-grams`, className: 'num', cell: (f) => f.shared },
          ]}
        />
      ) : null}
    </section>
  );
}
