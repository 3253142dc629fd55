import { describe, expect, it } from 'vitest';
import { act } from 'react';
import { createRoot } from 'react-dom/client';
import type { Dataset } from '../api';
import { DatasetView, DatasetsTable, summaryOf } from './DatasetsPage';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

function render(el: React.ReactElement) {
  const div = document.createElement('div');
  document.body.appendChild(div);
  const root = createRoot(div);
  act(() => root.render(el));
  return div;
}

const sha = 'f2b1c0d9e8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1';
// What GET /datasets answers for a JSONL chat file and a CSV (the summary of the profile computed at upload).
const list: Dataset[] = [
  {
    dataset_id: 'ds_chat',
    name: 'v1_sft_demo.jsonl',
    size: 444089,
    sha256: sha,
    format: 'jsonl',
    version: `sha256:${sha}`,
    created_at: '2026-12-04T18:00:00Z',
    summary: { rows: 500, format: 'messages', columns: ['messages'] },
  },
  {
    dataset_id: 'ds_csv',
    name: 'pairs.csv',
    size: 30,
    sha256: 'ab'.repeat(32),
    format: 'csv',
    version: `sha256:${'ab'.repeat(32)}`,
    summary: { rows: 2, format: 'completion', columns: ['prompt', 'completion', 'system', 'id', 'source', 'lang'] },
  },
  { dataset_id: 'ds_bad', name: 'bad.jsonl', size: 9, format: 'jsonl', version: 'sha256:00', summary: { rows: 0, format: '', columns: [], error: 'read /tmp/whet-blobs/datasets/ds_bad/bad.jsonl: line 1: invalid character' } },
];

const cellsOf = (div: HTMLElement, id: string) => {
  const head = [...div.querySelectorAll('thead th')].map((th) => th.textContent);
  const cells = [...div.querySelectorAll(`tr[data-dataset-id="${id}"] td`)].map((td) => td.textContent);
  return (h: string) => cells[head.indexOf(h)];
};

describe('datasets list', () => {
  it('shows rows, the detected format and columns from the upload profile, and the version shortened', () => {
    const div = render(<DatasetsTable list={list} />);
    const chat = cellsOf(div, 'ds_chat');
    expect(chat('Rows')).toBe('500');
    expect(chat('Format')).toBe('messages · jsonl');
    expect(chat('Columns')).toBe('messages');
    expect(chat('Version')).toBe(sha.slice(0, 12));
    expect(div.textContent).not.toContain(sha);
    const csv = cellsOf(div, 'ds_csv');
    expect(csv('Rows')).toBe('2');
    expect(csv('Format')).toBe('completion · csv');
    expect(csv('Columns')).toBe('prompt, completion, system, id +2 more');
    // a file that could not be read says so, without the server's path
    const bad = cellsOf(div, 'ds_bad');
    expect(bad('Format')).toBe('not readable (jsonl)');
    expect(bad('Rows')).toBe('—');
    const title = div.querySelector('tr[data-dataset-id="ds_bad"] td span[title]')!.getAttribute('title');
    expect(title).toBe('read bad.jsonl: line 1: invalid character');
  });
});

describe('dataset page', () => {
  // What GET /datasets/{id} answers: the profile and the sample computed at upload.
  const d: Dataset = {
    ...list[0],
    summary: undefined,
    profile: {
      rows: 500,
      format: 'messages',
      source_format: 'sharegpt',
      source: 'v1_sft_demo.jsonl',
      columns: [{ name: 'messages', types: { array: 500 }, nulls: 0, empty_strings: 0 }],
      fields: [{ name: 'messages[*].content', count: 1000, min: 2, max: 900, mean: 120.5, p50: 90, p90: 300, p99: 800, total: 120500 }],
      record_bytes: { count: 500, min: 100, max: 2000, mean: 800, p50: 700, p90: 1500, p99: 1900, total: 400000 },
      unreadable: 1,
      unreadable_rows: [{ file: '/work/data/blobs/datasets/ds_chat/v1_sft_demo.jsonl', line: 77, message: 'unexpected EOF' }],
    },
    sample: [
      {
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'Hello! How can I assist you today?' },
        ],
      },
      { messages: [{ role: 'user', content: 'hello' }] },
    ],
  };

  it('shows the profile and sample at once, with no job to run', () => {
    const div = render(<DatasetView d={d} />);
    const fact = (k: string) => div.querySelector(`[data-fact="${k}"]`)!.textContent;
    expect(fact('format')).toBe('sharegpt (read as messages)');
    expect(fact('file-type')).toBe('jsonl');
    expect(fact('rows')).toBe('500 (1 unreadable)');
    expect(fact('columns')).toBe('messages');
    expect(div.querySelector('[data-fact="version"] .hash')!.textContent).toBe(sha.slice(0, 12));
    expect(div.textContent).not.toContain(sha);
    const cols = [...div.querySelectorAll('table.profile-columns tbody td')].map((td) => td.textContent);
    expect(cols).toEqual(['messages', 'array 500', '0', '0']);
    const lengths = [...div.querySelectorAll('table.profile-lengths tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent));
    expect(lengths).toEqual([
      ['messages[*].content (characters)', '1,000', '2', '90', '300', '800', '900', '120.5'],
      ['record (bytes)', '500', '100', '700', '1,500', '1,900', '2,000', '800'],
    ]);
    expect([...div.querySelectorAll('table.profile-unreadable tbody td')].map((td) => td.textContent)).toEqual(['77', 'unexpected EOF']);
    const turns = [...div.querySelectorAll('table.samples-table tbody tr:first-child .turns li')].map((li) => li.textContent);
    expect(turns).toEqual(['userhi', 'assistantHello! How can I assist you today?']);
    expect(div.querySelectorAll('table.samples-table tbody tr').length).toBe(2);
    expect(div.textContent).not.toMatch(/Profile this dataset|keeps no sample/);
    expect(div.textContent).not.toContain('/work/');
  });

  it('reads the summary from the profile', () => {
    expect(summaryOf(d)).toEqual({ rows: 500, format: 'sharegpt', columns: ['messages'] });
    expect(summaryOf({ dataset_id: 'x', name: 'x', size: 1 })).toBeUndefined();
  });
});
