import { describe, expect, it } from 'vitest';
import { act } from 'react';
import { createRoot } from 'react-dom/client';
import { ema, LineChart, nearest } from './charts';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

function render(el: React.ReactElement) {
  const div = document.createElement('div');
  document.body.appendChild(div);
  act(() => createRoot(div).render(el));
  return div;
}

const loss: [number, number][] = [
  [1, 4],
  [2, 3],
  [3, 3.5],
  [4, 2],
  [5, 2.5],
];

describe('LineChart', () => {
  it('smooths with a debiased EMA (TensorBoard): reference values by hand', () => {
    // w=0.5: (0.5*1)/0.5 = 1; (0.25+1)/0.75 = 1.6667; (0.625+1.5)/0.875 = 2.428571
    const got = ema([1, 2, 3], 0.5);
    expect(got[0]).toBeCloseTo(1, 12);
    expect(got[1]).toBeCloseTo(5 / 3, 12);
    expect(got[2]).toBeCloseTo(2.125 / 0.875, 12);
    expect(ema([1, 2, 3], 0)).toEqual([1, 2, 3]);
  });

  it('finds the nearest step', () => {
    expect(nearest(loss, 0)).toBe(0);
    expect(nearest(loss, 2.4)).toBe(1);
    expect(nearest(loss, 2.6)).toBe(2);
    expect(nearest(loss, 99)).toBe(4);
    expect(nearest([], 1)).toBe(-1);
  });

  it('labels both axes', () => {
    const div = render(<LineChart title="Loss" yLabel="loss" series={[{ name: 'loss', points: loss }]} />);
    expect(div.querySelector('[data-axis="x"]')!.textContent).toBe('step');
    expect(div.querySelector('[data-axis="y"]')!.textContent).toBe('loss');
  });

  it('shows hover values: a crosshair and a tooltip with each series at that step (keyboard too)', () => {
    const div = render(
      <LineChart
        title="Loss"
        series={[
          { name: 'run a', points: loss },
          { name: 'run b', points: loss.map(([x, y]) => [x, y + 1]) },
        ]}
      />,
    );
    const svg = div.querySelector('svg')!;
    expect(div.querySelector('.chart-tip')).toBeNull();
    // pointer: the svg is 480 units wide on screen; step 3 is in the middle of the plot
    svg.getBoundingClientRect = () => ({ left: 0, top: 0, width: 480, height: 210, right: 480, bottom: 210, x: 0, y: 0, toJSON: () => ({}) });
    act(() => {
      svg.dispatchEvent(new MouseEvent('pointermove', { bubbles: true, clientX: 62 + (480 - 62 - 12) / 2, clientY: 50 }));
    });
    let tip = div.querySelector('.chart-tip')!;
    expect(tip.textContent).toContain('step 3');
    expect(tip.textContent).toContain('run a3.5');
    expect(tip.textContent).toContain('run b4.5');
    expect(div.querySelector('.crosshair')!.getAttribute('data-x')).toBe('3');
    act(() => {
      svg.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight', bubbles: true }));
    });
    tip = div.querySelector('.chart-tip')!;
    expect(tip.textContent).toContain('step 4');
    expect(tip.textContent).toContain('run a2');
    act(() => {
      svg.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }));
    });
    expect(div.querySelector('.chart-tip')).toBeNull();
  });

  it('draws the smoothed line over the faded raw one, same points', () => {
    const div = render(<LineChart title="Loss" series={[{ name: 'loss', points: loss }]} smoothing={0.6} />);
    const raw = div.querySelector('polyline[data-raw="loss"]')!.getAttribute('points')!.split(' ');
    const sm = div.querySelector('polyline[data-series="loss"]')!.getAttribute('points')!.split(' ');
    expect(raw.length).toBe(5);
    expect(sm.length).toBe(5);
    expect(sm[0]).toBe(raw[0]); // debiased: the first value is unchanged
    expect(sm[3]).not.toBe(raw[3]);
    const none = render(<LineChart title="Loss" series={[{ name: 'loss', points: loss }]} />);
    expect(none.querySelector('polyline[data-raw]')).toBeNull();
  });
});
