// PlanButton shows the dry run of the pipeline before it is submitted: the
// nodes in execution order, which come from the cache, and what each train
// node will need (memory, steps, tokens, time from a measured warm-up),
// with a warning when a run will not fit.

import { useState } from 'react';
import { api, Problem, type PipelineSpec, type Plan } from '../api';
import { fmtBytes, fmtDuration } from '../ui/format';

export function PlanButton({ spec, disabled }: { spec: () => PipelineSpec; disabled?: boolean }) {
  const [plan, setPlan] = useState<Plan | null>(null);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState('');
  const run = async () => {
    setBusy(true);
    setErr('');
    try {
      setPlan(await api.plan(spec()));
    } catch (e) {
      setPlan(null);
      setErr(e instanceof Problem ? `${e.title}${e.detail ? `: ${e.detail}` : ''}` : (e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span className="plan">
      <button type="button" onClick={run} disabled={disabled || busy} title="Dry run: what the pipeline would do, without running it">
        {busy ? 'Planning…' : 'Plan'}
      </button>
      {err ? (
        <span className="error-text small" role="alert">
          Plan failed: {err}
        </span>
      ) : null}
      {plan ? <PlanView plan={plan} onClose={() => setPlan(null)} /> : null}
    </span>
  );
}

export function PlanView({ plan, onClose }: { plan: Plan; onClose?: () => void }) {
  const noFit = plan.nodes.filter((n) => n.estimate && !n.estimate.fits);
  // A node that fits may still carry a warning: e.g. a cuda node planned on
  // a server with no GPU (memory from the model's shapes, no warm-up).
  const notes = plan.nodes.filter((n) => n.estimate?.fits && n.estimate.warning);
  return (
    <div className="plan-view panel" role="dialog" aria-label="Pipeline plan">
      {noFit.length ? (
        <div className="banner error" role="alert">
          {noFit.map((n) => (
            <div key={n.id}>
              {n.id} will not fit: {n.estimate?.warning || `needs ${fmtBytes(n.estimate?.memory_bytes)}`}
            </div>
          ))}
        </div>
      ) : null}
      {notes.length ? (
        <div className="banner" role="status">
          {notes.map((n) => (
            <div key={n.id}>
              {n.id}: {n.estimate?.warning}
            </div>
          ))}
        </div>
      ) : null}
      <table className="small">
        <thead>
          <tr>
            <th>node</th>
            <th>agent</th>
            <th>cache</th>
            <th>device</th>
            <th>memory</th>
            <th>steps</th>
            <th>tokens</th>
            <th>time</th>
          </tr>
        </thead>
        <tbody>
          {plan.nodes.map((n) => {
            const e = n.estimate;
            // memory only (no warm-up ran): no steps, tokens or time to show
            const timed = e && (e.steps > 0 || e.seconds > 0);
            return (
              <tr key={n.id} data-node={n.id} className={e && !e.fits ? 'error-text' : undefined} title={n.error || e?.basis || ''}>
                <td>{n.id}</td>
                <td>{n.agent}</td>
                <td>{n.cached ? 'cached' : 'runs'}</td>
                <td>{e?.device ?? ''}</td>
                <td>{e ? `${fmtBytes(e.memory_bytes)}${e.available_bytes ? ` of ${fmtBytes(e.available_bytes)}` : ''}` : ''}</td>
                <td>{timed ? e.steps : e ? '—' : ''}</td>
                <td>{timed ? e.tokens.toLocaleString() : e ? '—' : ''}</td>
                <td>{timed ? fmtDuration(e.seconds * 1000) : e ? '—' : n.error ? 'not estimated' : ''}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {onClose ? (
        <button type="button" onClick={onClose}>
          Close plan
        </button>
      ) : null}
    </div>
  );
}
