// Two or more runs side by side (/runs/compare?ids=a,b): a summary, the
// config params that differ (or all of them), the final metrics with the
// best marked, and the training curves overlaid.

import { useMemo, useState } from 'react';
import { api, type Job } from '../api';
import { LineChart, SmoothingSlider, type Series } from '../ui/charts';
import { DataTable } from '../ui/DataTable';
import { between, fmtDuration, fmtNum } from '../ui/format';
import { Link, useLocation } from '../ui/router';
import { useFetch } from '../ui/useFetch';
import '../ui/pages.css';
import { compareMetrics, diffConfigs, runCurves, runLabels } from './compare';
import { runFacts } from './runs';
import { PrimaryCell, StatusBadge } from './RunsPage';

const CURVES: { title: string; names: string[] }[] = [
  { title: 'Loss', names: ['loss', 'train_loss'] },
  { title: 'Validation loss', names: ['val_loss', 'eval_loss'] },
  { title: 'Learning rate', names: ['learning_rate', 'lr'] },
];

export function ComparePage() {
  const { query } = useLocation();
  const ids = (query.get('ids') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const key = ids.join(',');
  const jobs = useFetch(() => Promise.all(ids.map((id) => api.job(id))), [key]);
  const curves = useFetch(() => Promise.all(ids.map((id) => runCurves(id))), [key]);
  const [onlyDiff, setOnlyDiff] = useState(true);
  const [smoothing, setSmoothing] = useState(0);

  const list = jobs.data;
  const labels = useMemo(() => (list ? runLabels(list) : []), [list]);
  const diff = useMemo(() => (list ? diffConfigs(list.map((j) => j.spec)) : []), [list]);
  const metrics = useMemo(() => (list ? compareMetrics(list) : []), [list]);

  const head = (
    <div className="page-head">
      <div>
        <p className="crumbs">
          <Link to="/runs">Runs</Link> /
        </p>
        <h1>Compare runs</h1>
      </div>
    </div>
  );
  if (ids.length < 2)
    return (
      <div className="page compare-page">
        {head}
        <p className="muted">
          Select two or more runs on the <Link to="/runs">runs list</Link> to compare them.
        </p>
      </div>
    );
  if (!list)
    return (
      <div className="page compare-page">
        {head}
        {jobs.error ? (
          <div className="banner error" role="alert">
            Could not load the runs: {jobs.error}
          </div>
        ) : (
          <p className="muted">Loading…</p>
        )}
      </div>
    );

  const runHeaders = list.map((j, i) => ({
    key: j.job_id,
    header: <Link to={`/runs/${encodeURIComponent(j.job_id)}`}>{labels[i]}</Link>,
  }));
  const shownDiff = onlyDiff ? diff.filter((r) => r.differs) : diff;
  const charts = CURVES.map((c) => {
    const series: Series[] = [];
    (curves.data ?? []).forEach((m, i) => {
      const nodes = Object.keys(m).filter((n) => c.names.some((name) => m[n][name]?.length > 1));
      for (const n of nodes)
        for (const name of c.names)
          if (m[n][name]?.length > 1) series.push({ name: nodes.length > 1 ? `${labels[i]} ${n}` : labels[i], points: m[n][name] });
    });
    return { ...c, series };
  }).filter((c) => c.series.length);

  return (
    <div className="page compare-page" data-runs={ids.length}>
      {head}
      <section className="panel" aria-label="Summary">
        <h2>Summary</h2>
        <div className="table-wrap">
          <table className="records compare-summary" aria-label="Runs compared">
            <thead>
              <tr>
                <th scope="col">Run</th>
                {runHeaders.map((h) => (
                  <th scope="col" key={h.key}>
                    {h.header}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {(
                [
                  ['Status', (j: Job) => <StatusBadge status={j.status} />],
                  ['Duration', (j: Job) => fmtDuration(between(j.started_at, j.finished_at) ?? NaN)],
                  ['Base model', (j: Job) => runFacts(j).base ?? '—'],
                  ['Method', (j: Job) => runFacts(j).method ?? '—'],
                  ['Final loss', (j: Job) => fmtNum(runFacts(j).loss ?? nodeLoss(j))],
                  ['Primary metric', (j: Job) => <PrimaryCell p={runFacts(j).primary} />],
                ] as const
              ).map(([name, cell]) => (
                <tr key={name}>
                  <th scope="row">{name}</th>
                  {list.map((j) => (
                    <td key={j.job_id}>{cell(j)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>

      <section className="panel" aria-label="Config">
        <div className="panel-head">
          <h2>Config</h2>
          <span className="muted small">
            {diff.filter((r) => r.differs).length} of {diff.length} settings differ
          </span>
          <span className="spacer" />
          <label className="inline">
            <input type="checkbox" checked={onlyDiff} onChange={(e) => setOnlyDiff(e.target.checked)} />
            <span>Only differences</span>
          </label>
        </div>
        <DataTable
          label="Config"
          className="config-diff"
          rows={shownDiff}
          rowKey={(r) => r.key}
          rowProps={(r) => ({ 'data-key': r.key, className: r.differs ? 'differs' : undefined })}
          empty={<p className="muted">The runs' configs are the same.</p>}
          columns={[
            { key: 'key', header: 'Setting', cell: (r) => <span className="mono small">{r.key}</span> },
            ...list.map((j, i) => ({ key: j.job_id, header: runHeaders[i].header, className: 'value', cell: (r: (typeof diff)[number]) => r.values[i] ?? '—' })),
          ]}
        />
      </section>

      <section className="panel" aria-label="Final metrics">
        <h2>Final metrics</h2>
        <DataTable
          label="Final metrics"
          className="metric-diff"
          rows={metrics}
          rowKey={(r) => r.key}
          rowProps={(r) => ({ 'data-key': r.key })}
          empty={<p className="muted">These runs recorded no final metrics.</p>}
          columns={[
            { key: 'key', header: 'Metric', cell: (r) => <span className="mono small">{r.key}</span> },
            ...list.map((j, i) => ({
              key: j.job_id,
              header: runHeaders[i].header,
              className: 'num',
              cell: (r: (typeof metrics)[number]) =>
                r.best === i ? (
                  <strong className="best" title="best of these runs">
                    {fmtNum(r.values[i])}
                  </strong>
                ) : (
                  fmtNum(r.values[i])
                ),
            })),
          ]}
        />
      </section>

      <section className="panel" aria-label="Curves">
        <div className="panel-head">
          <h2>Curves</h2>
          <span className="spacer" />
          <SmoothingSlider value={smoothing} onChange={setSmoothing} />
        </div>
        {curves.error ? <p className="error-text">Could not load the runs' histories: {curves.error}</p> : null}
        {!curves.data && !curves.error ? <p className="muted">Loading…</p> : null}
        {curves.data && !charts.length ? <p className="muted">These runs recorded no training curves.</p> : null}
        <div className="charts">
          {charts.map((c) => (
            <LineChart key={c.title} title={c.title} series={c.series} yLabel={c.title.toLowerCase()} smoothing={smoothing} />
          ))}
        </div>
      </section>
    </div>
  );
}

function nodeLoss(j: Job): number | undefined {
  for (const n of j.nodes ?? []) for (const o of n.outputs ?? []) if (o.type === 'model' && typeof o.meta?.final_loss === 'number') return o.meta.final_loss as number;
  return undefined;
}
