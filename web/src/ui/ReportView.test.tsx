import { act } from 'react';
import { createRoot } from 'react-dom/client';
import { describe, expect, it } from 'vitest';
import { ReportView } from './ReportView';
import { fmtAgo, fmtBytes, fmtDuration } from './format';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

function render(report: unknown): HTMLElement {
  const el = document.createElement('div');
  const root = createRoot(el);
  act(() => root.render(<ReportView report={report} name="validation" />));
  return el;
}

describe('ReportView', () => {
  it('folds sections of many records (a comparison\'s samples) and clamps long texts', () => {
    const sample = (i: number) => ({ index: i, prompt: 'p'.repeat(300), base_output: 'b', tuned_output: 't' });
    const el = render({ primary_metric: 'rouge_l', samples: Array.from({ length: 27 }, (_, i) => sample(i)), tuned: { samples: Array.from({ length: 27 }, (_, i) => sample(i)) }, metrics: [{ name: 'loss', base: 1, tuned: 0.5 }] });
    const folded = [...el.querySelectorAll('details.report-section')] as HTMLDetailsElement[];
    expect(folded.map((d) => d.dataset.section)).toEqual(['samples', 'tuned']);
    expect(folded.every((d) => !d.open)).toBe(true);
    expect(folded[0].querySelector('summary')!.textContent).toBe('Samples 27 rows');
    // a short section stays open
    expect(el.querySelector('section.report-section h3')!.textContent).toBe('Metrics');
    const long = el.querySelector('.long-text') as HTMLElement;
    expect(long.title).toBe('');
    expect(long.textContent!.length).toBe(300);
  });

  it('names blob references by node and output, linked to their run, never raw', () => {
    // evaluation.json as the evaluate agent writes it since artifacts are referenced by blob key
    const el = render({
      kind: 'evaluation',
      results: { rouge_l: 0.25, loss: 2.5 },
      model: { path: 'blob:jobs/job_01/tune/model/', base_model: 'stories260K', adapter: 'blob:jobs/job_01/tune/model/', history: 'blob:jobs/job_01/tune/model/history.json' },
      dataset: { path: 'blob:jobs/job_01/prep/dataset/', split: 'validation', file: 'blob:jobs/job_01/prep/dataset/validation.jsonl', rows: 20 },
      eval_sets: ['blob:jobs/job_01/prep/dataset/validation.jsonl', 'extra.jsonl'],
    });
    expect(el.textContent).not.toContain('blob:');
    const links = [...el.querySelectorAll('a[data-ref]')] as HTMLAnchorElement[];
    expect(links.map((a) => [a.textContent, a.getAttribute('href')])).toEqual([
      ['tune/model', '/runs/job_01'],
      ['tune/model', '/runs/job_01'],
      ['tune/model/history.json', '/runs/job_01'],
      ['prep/dataset', '/runs/job_01'],
      ['prep/dataset/validation.jsonl', '/runs/job_01'],
    ]);
    // the reference itself stays at hand, as the title
    expect(links[0].title).toBe('blob:jobs/job_01/tune/model/');
    expect(el.textContent).toContain('prep/dataset/validation.jsonl, extra.jsonl');
  });

  it('renders findings as a table with the row number first, and counts as bars', () => {
    const el = render({
      passed: false,
      rows: 999,
      counts: { duplicate: 14, 'pii.email': 2 },
      findings: [
        { message: 'empty output', severity: 'error', row: 12, field: 'output' },
        { message: 'duplicate of row 3', severity: 'warning', row: 40, field: 'instruction' },
      ],
    });
    const table = el.querySelector('table.records')!;
    const head = [...table.querySelectorAll('thead th')].map((t) => t.textContent);
    expect(head).toEqual(['Row', 'Severity', 'Field', 'Message']);
    const first = [...table.querySelectorAll('tbody tr')[0].querySelectorAll('td')].map((t) => t.textContent);
    expect(first).toEqual(['12', 'error', 'output', 'empty output']);
    expect(table.querySelector('tbody tr')!.className).toBe('sev-error');
    const bars = [...el.querySelectorAll('.bars th')].map((t) => t.textContent);
    expect(bars).toEqual(['duplicate', 'pii.email']);
    expect(el.querySelector('table.kv')!.textContent).toContain('Passedno');
    expect(el.textContent).not.toContain('{');
  });

  it('renders a models × metrics map as one table', () => {
    const el = render({ base: { exact_match: 0.1, f1: 0.3 }, tuned: { exact_match: 0.4, f1: 0.6 } });
    const rows = [...el.querySelectorAll('tbody tr')].map((r) => [...r.querySelectorAll('td')].map((t) => t.textContent));
    expect(rows).toEqual([
      ['base', '0.1', '0.3'],
      ['tuned', '0.4', '0.6'],
    ]);
  });
});

describe('format', () => {
  it.each([
    [950, '950 ms'],
    [4200, '4.2 s'],
    [72_000, '1 min 12 s'],
    [3_900_000, '1 h 5 min'],
  ])('fmtDuration(%d) = %s', (ms, want) => expect(fmtDuration(ms)).toBe(want));
  it('fmtBytes', () => {
    expect(fmtBytes(512)).toBe('512 B');
    expect(fmtBytes(221011)).toBe('216 KiB');
    expect(fmtBytes(3.5 * 1024 ** 3)).toBe('3.5 GiB');
  });
  it('fmtAgo', () => {
    const now = Date.parse('2026-11-26T14:00:00Z');
    expect(fmtAgo('2026-11-26T13:57:00Z', now)).toBe('3 minutes ago');
    expect(fmtAgo('2026-11-25T14:00:00Z', now)).toBe('yesterday');
    expect(fmtAgo(null, now)).toBe('—');
  });
});

describe('ReportView mask_preview', () => {
  it('highlights the trained tokens with their ids and lists rows without any', () => {
    const el = render({
      rows_in: 3,
      mask_preview: {
        window: 64,
        rows: [
          {
            source_line: 1,
            trained: 2,
            tokens: [
              { id: 1, text: '<|im_start|>', trained: false },
              { id: 520, text: 'Hi', trained: true },
              { id: 2, text: '<|im_end|>', trained: true },
            ],
          },
        ],
        no_trained_tokens: 1,
        rows_without_trained_tokens: [{ source_line: 2, reason: 'cut_by_max_tokens', tokens: 90 }],
      },
    });
    const trained = [...el.querySelectorAll('.mask-tokens .tok.trained')].map((t) => `${t.getAttribute('data-id')}:${t.textContent}`);
    expect(trained).toEqual(['520:Hi', '2:<|im_end|>']);
    expect(el.querySelector('.mask-row figcaption')?.textContent).toBe('Line 1: 2 of 3 tokens trained');
    expect(el.querySelector('[role=alert]')?.textContent).toBe('Rows without trained tokens: 1');
    expect(el.textContent).toContain('line 2: cut by max tokens (90 tokens)');
  });
});
