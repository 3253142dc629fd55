import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Plan } from '../api';
import { PlanView } from './PlanButton';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

let root: Root;
let el: HTMLDivElement;
beforeEach(() => {
  el = document.createElement('div');
  document.body.appendChild(el);
  root = createRoot(el);
});
afterEach(() => {
  act(() => root.unmount());
  el.remove();
});

const est = { device: 'cpu', memory_bytes: 90 * 2 ** 20, tokens: 58104, steps: 30, seconds: 8.1, available_bytes: 20 * 2 ** 30, fits: true };

describe('PlanView', () => {
  it('lists nodes in order with cache and the train estimate', () => {
    const plan: Plan = {
      nodes: [
        { id: 'data', agent: 'dataset', cached: true, estimate: null },
        { id: 'tune', agent: 'train', cached: false, estimate: est },
      ],
    };
    act(() => root.render(<PlanView plan={plan} />));
    const rows = [...el.querySelectorAll('tbody tr')].map((r) => r.textContent);
    expect(rows[0]).toContain('cached');
    expect(rows[1]).toContain('90 MiB of 20 GiB');
    expect(rows[1]).toContain('58,104');
    expect(rows[1]).toContain('8.1 s');
    expect(el.querySelector('[role=alert]')).toBeNull();
  });

  it('warns when a run will not fit', () => {
    const plan: Plan = {
      nodes: [{ id: 'tune', agent: 'train', cached: false, estimate: { ...est, fits: false, warning: 'run needs about 30 GiB but only 20 GiB is available' } }],
    };
    act(() => root.render(<PlanView plan={plan} />));
    expect(el.querySelector('[role=alert]')?.textContent).toContain('tune will not fit: run needs about 30 GiB');
  });

  it('shows a memory-only estimate (a cuda node planned without a GPU) with its note, and no steps or time', () => {
    const gpu = { device: 'cuda', memory_bytes: 9 * 2 ** 30, tokens: 0, steps: 0, seconds: 0, fits: true, warning: 'no usable GPU on the machine that planned this run' };
    const plan: Plan = { nodes: [{ id: 'tune', agent: 'train', cached: false, estimate: gpu }] };
    act(() => root.render(<PlanView plan={plan} />));
    const cells = [...el.querySelectorAll('tbody tr td')].map((c) => c.textContent);
    expect(cells).toEqual(['tune', 'train', 'runs', 'cuda', '9.0 GiB', '—', '—', '—']);
    expect(el.querySelector('[role=status]')?.textContent).toContain('tune: no usable GPU');
    expect(el.querySelector('[role=alert]')).toBeNull();
  });
});
