// DataTable is the one table of the list pages (runs, datasets, models) and
// of long report tables: declared columns, optional paging, optional row
// selection, a caption for screen readers, and a scroll wrapper so a wide
// table never widens its card.

import { Fragment, useState, type ReactNode } from 'react';

export interface Column<R> {
  key: string;
  header: ReactNode;
  cell: (row: R, index: number) => ReactNode;
  /** className of the cells ("num" right-aligns, "mono small" for ids). */
  className?: string;
  /** title (hover text) of the cell. */
  title?: (row: R) => string | undefined;
}

export interface DataTableProps<R> {
  rows: R[];
  columns: Column<R>[];
  rowKey: (row: R, index: number) => string;
  /** accessible name of the table. */
  label: string;
  className?: string;
  /** rows per page; 0 or undefined shows every row. */
  pageSize?: number;
  /** data-* attributes (or others) of a row. */
  rowProps?: (row: R) => Record<string, string | undefined>;
  /** selection: keys of the selected rows and a setter; adds a checkbox column. */
  selected?: Set<string>;
  onSelect?: (key: string, on: boolean) => void;
  selectLabel?: (row: R) => string;
  /** expanded content under a row, spanning every column. */
  expanded?: (row: R) => ReactNode;
  empty?: ReactNode;
}

export function DataTable<R>({ rows, columns, rowKey, label, className, pageSize, rowProps, selected, onSelect, selectLabel, expanded, empty }: DataTableProps<R>) {
  const [page, setPage] = useState(0);
  if (!rows.length) return empty ? <>{empty}</> : null;
  const size = pageSize && pageSize > 0 ? pageSize : rows.length;
  const pages = Math.max(1, Math.ceil(rows.length / size));
  const p = Math.min(page, pages - 1);
  const shown = rows.slice(p * size, p * size + size);
  const span = columns.length + (onSelect ? 1 : 0);
  return (
    <div className="table-wrap">
      <table className={`records ${className ?? ''}`} aria-label={label}>
        <thead>
          <tr>
            {onSelect ? (
              <th scope="col">
                <span className="sr-only">Select</span>
              </th>
            ) : null}
            {columns.map((c) => (
              <th key={c.key} scope="col" className={c.className?.includes('num') ? 'num' : undefined}>
                {c.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {shown.map((r, i) => {
            const k = rowKey(r, p * size + i);
            const extra = expanded?.(r);
            return (
              <Fragment key={k}>
                <tr {...(rowProps?.(r) ?? {})}>
                  {onSelect ? (
                    <td>
                      <input type="checkbox" checked={!!selected?.has(k)} onChange={(e) => onSelect(k, e.target.checked)} aria-label={selectLabel?.(r) ?? `Select row ${k}`} />
                    </td>
                  ) : null}
                  {columns.map((c) => (
                    <td key={c.key} className={c.className} title={c.title?.(r)}>
                      {c.cell(r, p * size + i)}
                    </td>
                  ))}
                </tr>
                {extra ? (
                  <tr className="expanded-row">
                    <td colSpan={span}>{extra}</td>
                  </tr>
                ) : null}
              </Fragment>
            );
          })}
        </tbody>
      </table>
      {pages > 1 ? (
        <nav className="pager" aria-label={`${label} pages`}>
          <button type="button" onClick={() => setPage(p - 1)} disabled={p === 0}>
            Previous
          </button>
          <span>
            Rows {p * size + 1}–{Math.min(rows.length, p * size + size)} of {rows.length}
          </span>
          <button type="button" onClick={() => setPage(p + 1)} disabled={p >= pages - 1}>
            Next
          </button>
        </nav>
      ) : null}
    </div>
  );
}
