import { describe, expect, it } from 'vitest';
import { act } from 'react';
import { createRoot } from 'react-dom/client';
import type { Job } from '../api';
import { RunsTable } from './RunsPage';
import { baseModels, filterRuns, runFacts } from './runs';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

// What GET /jobs answers (jobs without their nodes, each with a summary).
const jobs: Job[] = [
  {
    job_id: 'job_a',
    name: 'stories-lora',
    status: 'succeeded',
    created_at: '2026-12-04T15:00:00Z',
    started_at: '2026-12-04T15:00:00Z',
    finished_at: '2026-12-04T15:01:12Z',
    spec: { name: 'stories-lora', nodes: [{ id: 'tune', agent: 'train', params: { base_model: '../shared/assets/models/stories260K' } }], edges: [] },
    summary: {
      nodes: 7,
      nodes_succeeded: 7,
      base_model: 'stories260K',
      method: 'lora',
      final_loss: 4.259591841828967,
      primary_metric: { name: 'rouge_l', value: 0.08499732698915567, base: 0.061683285211575206, lower_is_better: false, node: 'versus' },
    },
  },
  {
    job_id: 'job_b',
    name: 'qwen-dpo',
    status: 'failed',
    created_at: '2026-12-04T16:00:00Z',
    summary: { nodes: 4, nodes_succeeded: 2, base_model: 'qwen3-tiny', method: 'qlora' },
  },
  { job_id: 'job_c', name: 'data-check', status: 'running', created_at: '2026-12-04T14:00:00Z', started_at: '2026-12-04T14:00:00Z' },
];

function render(el: React.ReactElement) {
  const div = document.createElement('div');
  document.body.appendChild(div);
  act(() => createRoot(div).render(el));
  return div;
}

describe('runs list', () => {
  it('reads the summary of GET /jobs: base model, method, final loss, primary metric, nodes', () => {
    expect(runFacts(jobs[0])).toEqual({ base: 'stories260K', method: 'lora', loss: 4.259591841828967, primary: jobs[0].summary!.primary_metric, nodes: [7, 7] });
    expect(runFacts(jobs[2])).toEqual({ loss: undefined, primary: undefined });
    // a run from an older server (no summary) trained on another node's model: by node and output
    const chained: Job = { job_id: 'job_d', name: 'again', status: 'succeeded', created_at: '2026-12-04T17:00:00Z', nodes: [{ id: 'again', agent: 'train', status: 'succeeded', outputs: [{ type: 'model', name: 'model', meta: { base_model: 'blob:jobs/job_a/tune/model/' } }] }] } as Job;
    expect(runFacts(chained).base).toBe('tune/model');
    // the summary names it already
    expect(runFacts({ ...chained, summary: { nodes: 1, nodes_succeeded: 1, base_model: 'tune/model' } }).base).toBe('tune/model');
  });

  it('filters by status, base model and name, newest first', () => {
    expect(filterRuns(jobs, {}).map((j) => j.job_id)).toEqual(['job_b', 'job_a', 'job_c']);
    expect(filterRuns(jobs, { base: 'stories260K' }).map((j) => j.job_id)).toEqual(['job_a']);
    expect(filterRuns(jobs, { status: 'failed' }).map((j) => j.job_id)).toEqual(['job_b']);
    expect(filterRuns(jobs, { q: 'LORA' }).map((j) => j.job_id)).toEqual(['job_a']);
    expect(filterRuns(jobs, { q: 'job_c' }).map((j) => j.job_id)).toEqual(['job_c']);
    expect(baseModels(jobs)).toEqual(['qwen3-tiny', 'stories260K']);
  });

  it('shows duration, base model, method, final loss, the primary metric and nodes done; rows can be selected', () => {
    const picked: string[] = [];
    const div = render(<RunsTable jobs={jobs} now={Date.parse('2026-12-04T16:30:00Z')} selected={new Set()} onSelect={(k) => picked.push(k)} />);
    const head = [...div.querySelectorAll('thead th')].map((th) => th.textContent);
    expect(head).toEqual(['Select', 'Name', 'Status', 'Created', 'Duration', 'Base model', 'Method', 'Final loss', 'Primary metric', 'Nodes']);
    const row = div.querySelector('tr[data-job-id="job_a"]')!;
    const cells = [...row.querySelectorAll('td')].map((td) => td.textContent);
    expect(cells[4]).toBe('1 min 12 s');
    expect(cells[5]).toBe('stories260K');
    expect(cells[6]).toBe('lora');
    expect(cells[7]).toBe('4.2596');
    expect(cells[8]).toBe('rouge_l 0.084997 (base 0.061683)');
    expect(cells[9]).toBe('7/7');
    expect(div.querySelector('tr[data-job-id="job_b"] td:last-child')!.textContent).toBe('2/4');
    expect(div.querySelector('tr[data-job-id="job_c"] td:last-child')!.textContent).toBe('—');
    const box = row.querySelector<HTMLInputElement>('input[type=checkbox]')!;
    expect(box.getAttribute('aria-label')).toBe('Select stories-lora to compare');
    act(() => box.click());
    expect(picked).toEqual(['job_a']);
  });
});

describe('run page metrics', () => {
  it('groups charts by node, charts no progress counters, and lists single values instead of one-dot charts', async () => {
    const { chartsByNode } = await import('./RunPage');
    const steps = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => [i + 1, f(i)] as [number, number]);
    const groups = chartsByNode({
      tune: { loss: steps(5, (i) => 5 - i), val_loss: steps(2, (i) => 4 - i), learning_rate: steps(5, () => 0.003), eta_s: steps(5, (i) => 10 - i), epoch: steps(5, () => 1), grad_norm: steps(5, () => 1) },
      score: { loss: [[50, 3.1]], perplexity: [[50, 22]], rouge_l: [[50, 0.08]] },
    });
    expect(groups.map((g) => g.node)).toEqual(['tune', 'score']);
    expect(groups[0].charts.map((c) => [c.title, c.series.map((s) => s.name)])).toEqual([
      ['Loss', ['loss', 'val_loss']],
      ['Learning rate', ['learning_rate']],
      ['grad_norm', ['grad_norm']],
    ]);
    expect(groups[0].values).toEqual([]);
    expect(groups[1].charts).toEqual([]);
    expect(groups[1].values).toEqual([
      ['loss', 3.1],
      ['perplexity', 22],
      ['rouge_l', 0.08],
    ]);
  });
});
