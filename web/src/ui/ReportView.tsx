// ReportView renders the JSON reports nodes produce (dataset profiles,
// validation findings, evaluation and comparison reports) as headed sections,
// key/value tables, tables of records and bar charts — never as raw JSON.
// It is shape-driven, so new report kinds render sensibly without code here.

import { DataTable } from './DataTable';
import { BarChart } from './charts';
import { fmtBytes, fmtNum } from './format';
import { MaskPreview } from './MaskPreview';
import { Link } from './router';
import { artifactRef, displayRef } from '../data/paths';

type J = unknown;

const isObj = (v: J): v is Record<string, J> => !!v && typeof v === 'object' && !Array.isArray(v);
const isScalar = (v: J) => v === null || ['string', 'number', 'boolean'].includes(typeof v);
const title = (k: string) => k.replace(/[_-]+/g, ' ').replace(/^\w/, (c) => c.toUpperCase());

const isBytes = (k?: string) => !!k && /(^|_)(size|bytes)$/.test(k);

/** Ref names a stored artifact ("blob:jobs/J/tune/model/") by node and output, linked to the run that made it; the reference itself is its title. */
function Ref({ r }: { r: string }) {
  const a = artifactRef(r)!;
  return a.job ? (
    <Link to={`/runs/${encodeURIComponent(a.job)}`} title={r} data-ref={r}>
      {a.label}
    </Link>
  ) : (
    <span title={r} data-ref={r}>
      {a.label}
    </span>
  );
}

const text = (x: J) => (typeof x === 'string' ? displayRef(x) : isScalar(x) ? String(x) : JSON.stringify(x));

function Scalar({ v, k }: { v: J; k?: string }) {
  if (typeof v === 'string' && artifactRef(v)) return <Ref r={v} />;
  if (typeof v === 'number') return <span className="num">{isBytes(k) ? fmtBytes(v) : fmtNum(v)}</span>;
  if (typeof v === 'boolean') return <span>{v ? 'yes' : 'no'}</span>;
  if (v === null || v === undefined) return <span className="muted">—</span>;
  if (Array.isArray(v)) return <span>{v.map(text).join(', ')}</span>;
  if (isObj(v)) return <span className="small">{Object.entries(v).map(([k, x]) => `${k}: ${text(x)}`).join(', ')}</span>;
  const s = String(v);
  return s.length > 120 ? (
    <span className="long-text" title={s.length > 400 ? s : undefined}>
      {s}
    </span>
  ) : (
    <span>{s}</span>
  );
}

// Column order: row numbers and identifying fields first.
const FIRST = ['row', 'line', 'index', 'severity', 'level', 'code', 'rule', 'field', 'name', 'model', 'metric'];

function RecordsTable({ rows, caption }: { rows: Record<string, J>[]; caption?: string }) {
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))].sort((a, b) => {
    const ia = FIRST.indexOf(a);
    const ib = FIRST.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
  });
  return (
    <DataTable
      label={caption ?? 'Records'}
      rows={rows}
      rowKey={(_, i) => String(i)}
      pageSize={10}
      rowProps={(r) => ({ className: typeof r.severity === 'string' ? `sev-${r.severity}` : undefined })}
      columns={cols.map((c) => ({ key: c, header: title(c), cell: (r: Record<string, J>) => <Scalar v={r[c]} k={c} /> }))}
    />
  );
}

function KV({ obj }: { obj: Record<string, J> }) {
  return (
    <table className="kv">
      <tbody>
        {Object.entries(obj).map(([k, v]) => (
          <tr key={k}>
            <th scope="row">{title(k)}</th>
            <td>
              <Scalar v={v} k={k} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** rowsIn counts the records of the tables a value holds (arrays of objects), to fold long sections. */
function rowsIn(v: J): number {
  if (Array.isArray(v)) return v.every(isObj) ? v.length : 0;
  if (isObj(v)) return Object.values(v).reduce<number>((n, x) => n + rowsIn(x), 0);
  return 0;
}

/** A report's top-level sections holding more than FOLD records (samples, examples) start folded, with their size in the summary. */
const FOLD = 8;

function Section({ name, value, depth }: { name: string; value: J; depth: number }) {
  const H = (depth <= 0 ? 'h3' : depth === 1 ? 'h4' : 'h5') as 'h3';
  const rows = rowsIn(value);
  if (rows > FOLD && depth <= 0)
    return (
      <details className="report-section folded" data-section={name}>
        <summary>
          <H>{title(name)}</H> <span className="muted small">{Array.isArray(value) ? `${rows} rows` : `${rows} rows in ${Object.keys(value as object).length} parts`}</span>
        </summary>
        <Value value={value} depth={depth + 1} name={name} />
      </details>
    );
  return (
    <section className="report-section">
      <H>{title(name)}</H>
      {name === 'mask_preview' ? <MaskPreview value={value} /> : <Value value={value} depth={depth + 1} name={name} />}
    </section>
  );
}

function Value({ value, depth, name }: { value: J; depth: number; name?: string }) {
  if (isScalar(value)) return <Scalar v={value} />;
  if (Array.isArray(value)) {
    if (!value.length) return <p className="muted">None.</p>;
    if (value.every(isObj)) return <RecordsTable rows={value as Record<string, J>[]} />;
    if (value.every((v) => typeof v === 'number') && value.length > 1)
      return <BarChart title={depth > 0 ? '' : name ? title(name) : 'values'} items={(value as number[]).map((v, i) => ({ label: String(i), value: v }))} />;
    return (
      <ul>
        {value.map((v, i) => (
          <li key={i}>{isScalar(v) ? <Scalar v={v} /> : <Value value={v} depth={depth} />}</li>
        ))}
      </ul>
    );
  }
  if (isObj(value)) {
    const entries = Object.entries(value);
    const scalars = entries.filter(([, v]) => isScalar(v) || (Array.isArray(v) && v.every(isScalar) && v.length <= 8 && !v.every((x) => typeof x === 'number')));
    const rest = entries.filter((e) => !scalars.includes(e));
    const numeric = entries.filter(([, v]) => typeof v === 'number');
    // A map of names to numbers (metrics, a histogram) reads best as bars.
    const asBars = numeric.length >= 2 && numeric.length === entries.length;
    // A map of names to objects with the same numeric keys (models × metrics) is a table.
    const objs = entries.filter(([, v]) => isObj(v)) as [string, Record<string, J>][];
    const asMatrix = objs.length >= 2 && objs.length === entries.length && objs.every(([, o]) => Object.values(o).every(isScalar));
    if (asMatrix)
      return <RecordsTable rows={objs.map(([k, o]) => ({ name: k, ...o }))} />;
    return (
      <div className="report-obj">
        {asBars ? (
          <BarChart title={depth > 0 ? '' : name ? title(name) : 'values'} items={numeric.map(([k, v]) => ({ label: k, value: v as number }))} />
        ) : scalars.length ? (
          <KV obj={Object.fromEntries(scalars)} />
        ) : null}
        {rest.map(([k, v]) => (
          <Section key={k} name={k} value={v} depth={depth} />
        ))}
      </div>
    );
  }
  return null;
}

export function ReportView({ report, name }: { report: J; name?: string }) {
  return (
    <div className="report" data-report={name}>
      <Value value={report} depth={0} name={name} />
    </div>
  );
}
