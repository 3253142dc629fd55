// Small SVG charts (no chart library): a line chart for training curves and a
// horizontal bar chart for reports. Colours come from CSS variables so both
// themes work. The line chart has axis labels, optional EMA smoothing (the raw
// line stays, faded) and hover values: a crosshair with a tooltip listing each
// series' value at the nearest step, also reachable from the keyboard (focus
// the chart, then the arrow keys).

import { useMemo, useRef, useState, type KeyboardEvent, type PointerEvent } from 'react';
import { fmtNum } from './format';
import './pages.css';

export interface Series {
  name: string;
  points: [number, number][];
}

const W = 480;
const H = 210;
const PAD = { l: 62, r: 12, t: 12, b: 38 };

function ticks(min: number, max: number, n = 4): number[] {
  if (min === max) return [min];
  const step0 = (max - min) / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/**
 * ema smooths values with an exponential moving average, debiased so the
 * first values are not pulled towards 0 (as TensorBoard does): weight in
 * [0, 1), 0 returns the values unchanged.
 */
export function ema(values: number[], weight: number): number[] {
  const w = Math.min(Math.max(weight, 0), 0.999);
  let last = 0;
  let norm = 0;
  return values.map((v) => {
    last = last * w + (1 - w) * v;
    norm = norm * w + (1 - w);
    return last / norm;
  });
}

/** nearest returns the index of the point whose x is closest to x (points sorted by x). */
export function nearest(points: [number, number][], x: number): number {
  if (!points.length) return -1;
  let lo = 0;
  let hi = points.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid][0] < x) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && Math.abs(points[lo - 1][0] - x) <= Math.abs(points[lo][0] - x)) return lo - 1;
  return lo;
}

export interface LineChartProps {
  title: string;
  series: Series[];
  xLabel?: string;
  /** the y axis' label; the title when unset. */
  yLabel?: string;
  /** EMA weight in [0, 1): 0 draws the raw values only. */
  smoothing?: number;
}

export function LineChart({ title, series: raw, xLabel = 'step', yLabel, smoothing = 0 }: LineChartProps) {
  const series = useMemo(
    () =>
      raw.map((s) => {
        const points = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).sort((a, b) => a[0] - b[0]);
        const sm = smoothing > 0 && points.length > 3 ? ema(points.map((p) => p[1]), smoothing) : null;
        return { name: s.name, points, smooth: sm ? points.map(([x], i) => [x, sm[i]] as [number, number]) : null };
      }),
    [raw, smoothing],
  );
  const [hover, setHover] = useState<number | null>(null); // an x value
  const svgRef = useRef<SVGSVGElement>(null);
  const all = series.flatMap((s) => s.points);
  const xs = useMemo(() => [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b), [series]);
  const last = series.length === 1 ? series[0].points[series[0].points.length - 1] : undefined;
  if (!all.length)
    return (
      <figure className="chart" data-chart={title}>
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
  const line = (pts: [number, number][]) => pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');

  const onMove = (e: PointerEvent<SVGSVGElement>) => {
    const r = svgRef.current?.getBoundingClientRect();
    if (!r || !r.width) return;
    const vx = ((e.clientX - r.left) / r.width) * W;
    const x = x0 + ((vx - PAD.l) / (W - PAD.l - PAD.r)) * (x1 - x0);
    const i = nearest(xs.map((v) => [v, 0] as [number, number]), x);
    setHover(i >= 0 ? xs[i] : null);
  };
  const onKey = (e: KeyboardEvent<SVGSVGElement>) => {
    const i = hover === null ? -1 : xs.indexOf(hover);
    const to = (j: number) => {
      e.preventDefault();
      setHover(xs[Math.min(Math.max(j, 0), xs.length - 1)]);
    };
    if (e.key === 'ArrowRight') to(i + 1);
    else if (e.key === 'ArrowLeft') to(i < 0 ? xs.length - 1 : i - 1);
    else if (e.key === 'Home') to(0);
    else if (e.key === 'End') to(xs.length - 1);
    else if (e.key === 'Escape') setHover(null);
  };
  const at =
    hover === null
      ? []
      : series
          .map((s, i) => {
            const j = nearest(s.points, hover);
            return j < 0 || s.points[j][0] !== hover ? null : { name: s.name, i, raw: s.points[j], smooth: s.smooth?.[j] };
          })
          .filter((v): v is NonNullable<typeof v> => v !== null);
  const tipLeft = hover === null ? 0 : (sx(hover) / W) * 100;

  return (
    <figure className="chart" data-chart={title}>
      <figcaption>
        {title}
        {last ? (
          <span className="muted small">
            {' '}
            · latest {fmtNum(last[1])} at {xLabel} {fmtNum(last[0])}
          </span>
        ) : null}
      </figcaption>
      <div className="chart-plot">
        <svg
          ref={svgRef}
          viewBox={`0 0 ${W} ${H}`}
          role="img"
          aria-label={`${title} by ${xLabel}. Focus and use the arrow keys to read values.`}
          tabIndex={0}
          onPointerMove={onMove}
          onPointerLeave={() => setHover(null)}
          onKeyDown={onKey}
          onBlur={() => setHover(null)}
        >
          {ticks(y0, y1).map((t) => (
            <g key={'y' + t}>
              <line x1={PAD.l} x2={W - PAD.r} y1={sy(t)} y2={sy(t)} className="grid" />
              <text x={PAD.l - 6} y={sy(t) + 4} textAnchor="end" className="tick">
                {fmtNum(t)}
              </text>
            </g>
          ))}
          {ticks(x0, x1, 5).map((t) => (
            <text key={'x' + t} x={sx(t)} y={H - PAD.b + 15} textAnchor="middle" className="tick">
              {fmtNum(t)}
            </text>
          ))}
          <line x1={PAD.l} x2={W - PAD.r} y1={H - PAD.b} y2={H - PAD.b} className="axis" />
          <line x1={PAD.l} x2={PAD.l} y1={PAD.t} y2={H - PAD.b} className="axis" />
          <text className="axis-label" data-axis="x" x={(PAD.l + W - PAD.r) / 2} y={H - 4} textAnchor="middle">
            {xLabel}
          </text>
          <text className="axis-label" data-axis="y" x={0} y={0} textAnchor="middle" transform={`translate(12 ${(PAD.t + H - PAD.b) / 2}) rotate(-90)`}>
            {yLabel ?? title}
          </text>
          {series.map((s, i) =>
            s.smooth ? <polyline key={'raw' + s.name} data-raw={s.name} className={`line raw c${i % 6}`} fill="none" points={line(s.points)} /> : null,
          )}
          {series.map((s, i) => (
            <polyline key={s.name} data-series={s.name} className={`line c${i % 6}`} fill="none" points={line(s.smooth ?? s.points)} />
          ))}
          {series.map((s, i) =>
            s.points.length <= 3 ? s.points.map(([x, y]) => <circle key={`${s.name}${x}`} className={`dot c${i % 6}`} cx={sx(x)} cy={sy(y)} r={3.5} />) : null,
          )}
          {hover !== null ? (
            <g className="crosshair" data-x={hover}>
              <line x1={sx(hover)} x2={sx(hover)} y1={PAD.t} y2={H - PAD.b} />
              {at.map((p) => (
                <circle key={p.name} className={`dot c${p.i % 6}`} cx={sx(p.raw[0])} cy={sy(p.smooth?.[1] ?? p.raw[1])} r={4} />
              ))}
            </g>
          ) : null}
        </svg>
        {hover !== null && at.length ? (
          <div className={`chart-tip${tipLeft > 60 ? ' left' : ''}`} style={{ left: `${tipLeft}%` }} data-testid="chart-tip">
            <div className="muted small">
              {xLabel} {fmtNum(hover)}
            </div>
            {at.map((p) => (
              <div key={p.name} className="tip-row">
                <span className={`swatch c${p.i % 6}`} aria-hidden="true" />
                <span>{p.name}</span>
                <span className="num">
                  {fmtNum(p.raw[1])}
                  {p.smooth ? <span className="muted"> (smoothed {fmtNum(p.smooth[1])})</span> : null}
                </span>
              </div>
            ))}
          </div>
        ) : null}
      </div>
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

/** SmoothingSlider sets the EMA weight of a page's line charts. */
export function SmoothingSlider({ value, onChange }: { value: number; onChange: (v: number) => void }) {
  return (
    <label className="inline smoothing">
      <span>Smoothing</span>
      <input type="range" min={0} max={0.99} step={0.01} value={value} onChange={(e) => onChange(Number(e.target.value))} />
      <span className="num small">{value.toFixed(2)}</span>
    </label>
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
