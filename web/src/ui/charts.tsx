// Small SVG charts (no chart library): a line chart for training curves and a
// horizontal bar chart for reports. Colours come from CSS variables so both
// themes work.

import { fmtNum } from './format';

export interface Series {
  name: string;
  points: [number, number][];
}

const W = 480;
const H = 200;
const PAD = { l: 56, r: 12, t: 12, b: 28 };

function ticks(min: number, max: number, n = 4): number[] {
  if (min === max) return [min];
  const step0 = (max - min) / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export function LineChart({ title, series, xLabel = 'step' }: { title: string; series: Series[]; xLabel?: string }) {
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const last = series.length === 1 ? series[0].points[series[0].points.length - 1] : undefined;
  if (!all.length)
    return (
      <figure className="chart">
        <figcaption>{title}</figcaption>
        <p className="muted">No data yet.</p>
      </figure>
    );
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - Math.abs(y0 || 1) * 0.1, y1 + Math.abs(y1 || 1) * 0.1];
  const sx = (x: number) => PAD.l + ((x - x0) / (x1 - x0)) * (W - PAD.l - PAD.r);
  const sy = (y: number) => H - PAD.b - ((y - y0) / (y1 - y0)) * (H - PAD.t - PAD.b);
  return (
    <figure className="chart" data-chart={title}>
      <figcaption>
        {title}
        {last ? <span className="muted small"> · latest {fmtNum(last[1])} at {xLabel} {last[0]}</span> : null}
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title} by ${xLabel}`}>
        {ticks(y0, y1).map((t) => (
          <g key={'y' + t}>
            <line x1={PAD.l} x2={W - PAD.r} y1={sy(t)} y2={sy(t)} className="grid" />
            <text x={PAD.l - 6} y={sy(t) + 4} textAnchor="end" className="tick">
              {fmtNum(t)}
            </text>
          </g>
        ))}
        {ticks(x0, x1, 5).map((t) => (
          <text key={'x' + t} x={sx(t)} y={H - PAD.b + 16} textAnchor="middle" className="tick">
            {fmtNum(t)}
          </text>
        ))}
        <line x1={PAD.l} x2={W - PAD.r} y1={H - PAD.b} y2={H - PAD.b} className="axis" />
        <line x1={PAD.l} x2={PAD.l} y1={PAD.t} y2={H - PAD.b} className="axis" />
        {series.map((s, i) => (
          <polyline
            key={s.name}
            data-series={s.name}
            className={`line c${i % 6}`}
            fill="none"
            points={s.points
              .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
              .map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
              .join(' ')}
          />
        ))}
        {series.map((s, i) =>
          s.points.length <= 3
            ? s.points.map(([x, y]) => <circle key={`${s.name}${x}`} className={`dot c${i % 6}`} cx={sx(x)} cy={sy(y)} r={3.5} />)
            : null,
        )}
      </svg>
      {series.length > 1 ? (
        <ul className="legend">
          {series.map((s, i) => (
            <li key={s.name}>
              <span className={`swatch c${i % 6}`} aria-hidden="true" />
              {s.name}
            </li>
          ))}
        </ul>
      ) : null}
    </figure>
  );
}

export function BarChart({ title, items }: { title: string; items: { label: string; value: number }[] }) {
  const max = Math.max(...items.map((i) => Math.abs(i.value)), 1e-12);
  return (
    <figure className="chart bars" data-chart={title}>
      {title ? <figcaption>{title}</figcaption> : null}
      <table aria-label={title || undefined}>
        <tbody>
          {items.map((i) => (
            <tr key={i.label}>
              <th scope="row">{i.label}</th>
              <td className="bar-cell">
                <span className="bar" style={{ width: `${(Math.abs(i.value) / max) * 100}%` }} aria-hidden="true" />
              </td>
              <td className="num">{fmtNum(i.value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
