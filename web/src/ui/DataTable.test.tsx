import { describe, expect, it } from 'vitest';
import { act } from 'react';
import { createRoot } from 'react-dom/client';
import { DataTable } from './DataTable';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

function render(el: React.ReactElement) {
  const div = document.createElement('div');
  document.body.appendChild(div);
  const root = createRoot(div);
  act(() => root.render(el));
  return div;
}

describe('DataTable', () => {
  const rows = Array.from({ length: 45 }, (_, i) => ({ id: `r${i}`, v: i }));
  const cols = [
    { key: 'id', header: 'Id', cell: (r: { id: string }) => r.id },
    { key: 'v', header: 'Value', cell: (r: { v: number }) => String(r.v), className: 'num' },
  ];

  it('pages long tables', () => {
    const div = render(<DataTable label="T" rows={rows} columns={cols} rowKey={(r) => r.id} pageSize={20} />);
    expect(div.querySelectorAll('tbody tr').length).toBe(20);
    expect(div.textContent).toContain('Rows 1–20 of 45');
    const next = [...div.querySelectorAll('button')].find((b) => b.textContent === 'Next')!;
    act(() => next.click());
    act(() => next.click());
    expect(div.querySelectorAll('tbody tr').length).toBe(5);
    expect(div.querySelector('tbody tr td')!.textContent).toBe('r40');
    expect(next.disabled).toBe(true);
  });

  it('shows every row without a page size, inside a scroll wrapper, with a label', () => {
    const div = render(<DataTable label="Runs" rows={rows} columns={cols} rowKey={(r) => r.id} />);
    expect(div.querySelectorAll('tbody tr').length).toBe(45);
    expect(div.querySelector('.table-wrap > table')!.getAttribute('aria-label')).toBe('Runs');
    expect(div.querySelector('nav.pager')).toBeNull();
  });

  it('selects rows through labelled checkboxes', () => {
    const picked: string[] = [];
    const div = render(
      <DataTable label="T" rows={rows.slice(0, 3)} columns={cols} rowKey={(r) => r.id} selected={new Set(['r1'])} onSelect={(k, on) => on && picked.push(k)} selectLabel={(r) => `Select ${r.id}`} />,
    );
    const boxes = div.querySelectorAll<HTMLInputElement>('input[type=checkbox]');
    expect(boxes.length).toBe(3);
    expect(boxes[1].checked).toBe(true);
    expect(boxes[2].getAttribute('aria-label')).toBe('Select r2');
    act(() => boxes[2].click());
    expect(picked).toEqual(['r2']);
  });
});
