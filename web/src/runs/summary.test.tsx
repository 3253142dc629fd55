import { describe, expect, it } from 'vitest';
import { act } from 'react';
import { createRoot } from 'react-dom/client';
import type { Job } from '../api';
import { ContaminationView, RunSummary } from './RunSummary';
import { fmtPct, headlineText, runOverview, shortVersion } from './summary';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

function render(el: React.ReactElement) {
  const div = document.createElement('div');
  document.body.appendChild(div);
  act(() => createRoot(div).render(el));
  return div;
}

const version = 'sha256:' + '0123456789abcdef'.repeat(4);

// GET /jobs/{id} of the shared example (stories-lora.yaml), finished: the
// output metadata the train, evaluate and compare agents record.
const finished: Job = {
  job_id: 'job_ex',
  name: 'stories-lora',
  status: 'succeeded',
  created_at: '2026-12-04T15:00:00Z',
  started_at: '2026-12-04T15:00:00Z',
  finished_at: '2026-12-04T15:01:12Z',
  datasets: [{ source: '../shared/assets/datasets/llama-factory/alpaca_en_demo.json', version }],
  nodes: [
    { id: 'data', agent: 'dataset', status: 'succeeded', cached: true, outputs: [{ type: 'dataset', name: 'dataset', meta: { rows: 1000 } }] },
    {
      id: 'tune',
      agent: 'train',
      status: 'succeeded',
      outputs: [{ type: 'model', name: 'model', meta: { base_model: '../shared/assets/models/stories260K', method: 'lora', final_loss: 4.259591841828967, final_val_loss: 4.4123456789 } }],
    },
    {
      id: 'score',
      agent: 'evaluate',
      status: 'succeeded',
      outputs: [{ type: 'report', name: 'evaluation', meta: { kind: 'evaluation', metrics: { rouge_l: 0.08499732698915567, loss: 4.51, perplexity: 90.9 } } }],
    },
    {
      id: 'versus',
      agent: 'compare',
      status: 'succeeded',
      outputs: [
        {
          type: 'report',
          name: 'comparison',
          meta: {
            kind: 'comparison',
            primary_metric: 'rouge_l',
            improved: true,
            significant: false,
            wins: 20,
            ties: 18,
            losses: 12,
            metrics: { base_rouge_l: 0.061683285211575206, tuned_rouge_l: 0.08499732698915567, delta_rouge_l: 0.023314 },
          },
        },
        { type: 'report', name: 'comparison_html', meta: { content_type: 'text/html' } },
      ],
    },
  ],
};

describe('run summary', () => {
  it('writes the base-vs-tuned headline with the relative change', () => {
    expect(headlineText('perplexity', 12.3, 8.1, true)).toEqual({ text: 'tuned beats base: perplexity 12.3 → 8.1 (−34 %)', verdict: 'better' });
    expect(headlineText('rouge_l', 0.2, 0.15, false)).toEqual({ text: 'tuned is worse than base: rouge_l 0.2 → 0.15 (−25 %)', verdict: 'worse' });
    expect(headlineText('loss', 0, 0, true)).toEqual({ text: 'tuned ties base: loss 0 → 0', verdict: 'same' });
    expect(fmtPct(2.46)).toBe('+2.5 %');
    expect(fmtPct(-0.004)).toBe('0 %');
    expect(shortVersion(version)).toBe('sha256:0123456789ab');
  });

  it('reads the key metrics, the headline, cached nodes and datasets from the nodes of GET /jobs/{id}', () => {
    const o = runOverview(finished);
    expect(o.metrics.map((m) => [m.key, m.label, m.value, m.node, m.base])).toEqual([
      ['final_loss', 'Final train loss', 4.259591841828967, 'tune', undefined],
      ['final_val_loss', 'Final val loss', 4.4123456789, 'tune', undefined],
      ['eval_loss', 'Eval loss', 4.51, 'score', undefined],
      ['eval_perplexity', 'Eval perplexity', 90.9, 'score', undefined],
      ['eval_rouge_l', 'Eval rouge_l', 0.08499732698915567, 'score', undefined],
      ['primary', 'Primary metric: rouge_l', 0.08499732698915567, 'versus', 0.061683285211575206],
    ]);
    expect(o.headline).toMatchObject({ text: 'tuned beats base: rouge_l 0.061683 → 0.084997 (+38 %)', verdict: 'better', significant: false, wins: 20, ties: 18, losses: 12 });
    expect(o.cached).toEqual(['data']);
    expect(o.nodes).toEqual([4, 4]);
    expect(o.failed).toEqual([]);
  });

  it('without a compare node the headline says the base was not measured', () => {
    const j: Job = { ...finished, nodes: finished.nodes!.filter((n) => n.agent !== 'compare') };
    expect(runOverview(j).headline).toMatchObject({ verdict: 'none', metric: 'rouge_l', text: 'tuned model: rouge_l 0.084997 (the base model was not measured: add a compare node after score)' });
  });

  it('shows status, duration, metrics, the headline, cached nodes and the dataset versions first', () => {
    const div = render(<RunSummary job={finished} status="succeeded" duration={72_000} finished />);
    const stat = (k: string) => div.querySelector(`[data-stat="${k}"] dd`)?.textContent;
    expect(stat('status')).toBe('succeeded');
    expect(stat('duration')).toBe('1 min 12 s');
    expect(stat('nodes')).toBe('4/4 succeeded 1 cached');
    expect(stat('final_loss')).toBe('4.2596');
    expect(stat('eval_perplexity')).toBe('90.9');
    expect(stat('primary')).toBe('0.084997 (base 0.061683)');
    const h = div.querySelector('[data-headline]')!;
    expect(h.getAttribute('data-headline')).toBe('better');
    expect(h.textContent).toBe('tuned beats base: rouge_l 0.061683 → 0.084997 (+38 %) · not significant (the interval of the change includes 0); wins 20, ties 18, loses 12 of 50');
    const ds = div.querySelector(`.run-datasets li[data-version="${version}"]`)!;
    expect(ds.textContent).toBe('alpaca_en_demo.json sha256:0123456789ab');
    expect(div.querySelector('[role=alert]')).toBeNull();
  });

  it('puts a failed node and its error at the top, with a way to its log; uploaded datasets link to their page', () => {
    const failed: Job = {
      ...finished,
      status: 'failed',
      error: 'node tune: out of memory',
      datasets: [{ dataset_id: 'ds_42', name: 'alpaca-demo', version }],
      nodes: [
        finished.nodes![0],
        { id: 'tune', agent: 'train', status: 'failed', attempts: 3, error: 'out of memory' },
        { id: 'score', agent: 'evaluate', status: 'cancelled', error: 'cancelled: node tune failed' },
      ],
    };
    const shown: string[] = [];
    const div = render(<RunSummary job={failed} status="failed" duration={5000} finished onShowLog={(n) => shown.push(n)} />);
    const alerts = div.querySelectorAll('[role=alert]');
    expect(alerts.length).toBe(1);
    expect(alerts[0].getAttribute('data-failed-node')).toBe('tune');
    expect(alerts[0].textContent).toBe('Node tune (train) failed after 3 tries: out of memory Show its log');
    act(() => alerts[0].querySelector('button')!.click());
    expect(shown).toEqual(['tune']);
    const ds = div.querySelector('.run-datasets li[data-dataset-id="ds_42"]')!;
    expect(ds.querySelector('a')!.getAttribute('href')).toBe('/datasets/ds_42');
    expect(ds.textContent).toBe('alpaca-demo ds_42 sha256:0123456789ab');
  });
});

describe('compare report contamination', () => {
  it('says how many training rows overlap, lists the row pairs, and names files without their server folders', () => {
    const div = render(
      <ContaminationView
        c={{
          ngram: 13,
          train_file: '/var/lib/whet/jobs/job_1/prep/train.jsonl',
          eval_file: '/var/lib/whet/jobs/job_1/prep/validation.jsonl',
          train_rows: 90,
          rows: 3,
          findings: [
            { train_row: 4, eval_row: 2, shared: 7 },
            { train_row: 17, eval_row: 9, shared: 2 },
            { train_row: 60, eval_row: 2, shared: 1 },
          ],
        }}
      />,
    );
    const text = div.textContent!;
    expect(div.querySelector('[data-contaminated]')!.getAttribute('data-contaminated')).toBe('3');
    expect(text).toContain('3 of 90 training rows (3.3 %) share a 13-word sequence with an evaluated row');
    expect(text).toContain('train.jsonl checked against validation.jsonl');
    expect(text).not.toContain('/var/lib');
    const rows = [...div.querySelectorAll('table tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent));
    expect(rows).toEqual([
      ['4', '2', '7'],
      ['17', '9', '2'],
      ['60', '2', '1'],
    ]);
  });

  it('says when none was found and when it was not checked', () => {
    const clean = render(<ContaminationView c={{ ngram: 13, train_file: 'a/train.jsonl', eval_file: 'a/validation.jsonl', train_rows: 900, rows: 0, findings: [] }} />);
    expect(clean.textContent).toContain('None: no training row shares a 13-word sequence with an evaluated row (900 training rows checked).');
    expect(clean.querySelector('table')).toBeNull();
    expect(render(<ContaminationView />).textContent).toContain('Not checked');
  });
});
