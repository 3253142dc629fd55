import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentSpec, Dataset, Param } from '../api';
import { BASIC, splitParams } from './basic';
import { DatasetPicker } from './DatasetPicker';
import { ParamForm } from './ParamForm';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const p = (name: string, extra: Partial<Param> = {}): Param => ({ name, type: 'integer', ...extra });
const agent = (name: string, params: Param[]): AgentSpec => ({ name, description: '', params, inputs: [], outputs: [], gpu: false });
// the train agent's 23 params as whet serve lists them
const trainParams = ['base_model', 'method', 'beta', 'dpo_weights', 'double_quant', 'lora', 'epochs', 'batch_size', 'grad_accum', 'learning_rate', 'schedule', 'warmup_steps', 'max_seq_len', 'max_steps', 'weight_decay', 'max_grad_norm', 'eval_every', 'checkpoint_every', 'packing', 'seed', 'bf16', 'device', 'gradient_checkpointing'].map((n) => p(n));

describe('splitParams', () => {
  it('shows the handful of train params people set; the rest are advanced, in schema order', () => {
    const { basic, advanced } = splitParams(agent('train', trainParams));
    expect(basic.map((x) => x.name)).toEqual(['base_model', 'method', 'lora', 'epochs', 'batch_size', 'learning_rate', 'max_seq_len', 'max_steps']);
    expect(advanced.length).toBe(trainParams.length - basic.length);
    expect(advanced[0].name).toBe('beta');
  });
  it('a required param is always basic', () => {
    const { basic } = splitParams(agent('train', [...trainParams, p('must', { required: true })]));
    expect(basic.map((x) => x.name)).toContain('must');
  });
  it('an unlisted agent with few params shows them all', () => {
    const few = [p('a'), p('b'), p('c')];
    expect(splitParams(agent('custom', few))).toEqual({ basic: few, advanced: [] });
  });
  it('an unlisted agent with many params shows its inputs first', () => {
    const many = [p('x1'), p('x2'), p('src', { type: 'string', kind: 'path' }), p('x3'), p('x4'), p('x5'), p('x6')];
    expect(splitParams(agent('custom', many)).basic.map((x) => x.name)).toEqual(['src']);
  });
  it('every listed basic name is a real param of the agent (catches renames)', () => {
    expect(BASIC.train.every((n) => trainParams.some((q) => q.name === n))).toBe(true);
  });
});

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
const q = <T extends Element>(sel: string) => el.querySelector(sel) as T;

describe('ParamForm advanced params', () => {
  const render = (values: Record<string, unknown>, errors?: Record<string, string>) =>
    act(() =>
      root.render(
        <ParamForm params={[p('epochs')]} advanced={[p('seed'), p('warmup_steps', { minimum: 0 })]} values={values} errors={errors} idPrefix="n" onChange={() => {}} />,
      ),
    );
  it('hides advanced params behind a toggle that says how many', () => {
    render({ seed: 3 });
    expect(q('#n-epochs')).not.toBeNull();
    expect(q('#n-seed')).toBeNull();
    const btn = q<HTMLButtonElement>('.advanced-toggle');
    expect(btn.textContent).toBe('Show 2 advanced params (1 set)');
    expect(btn.getAttribute('aria-expanded')).toBe('false');
    act(() => btn.click());
    expect(q('#n-seed')).not.toBeNull();
    expect(btn.getAttribute('aria-expanded')).toBe('true');
  });
  it('opens by itself when an advanced param has an error', () => {
    render({}, { seed: 'must be a whole number' });
    expect(q('#n-seed-error')?.textContent).toBe('must be a whole number');
    render({ warmup_steps: -1 });
    expect(q('#n-warmup_steps-error')).not.toBeNull();
  });
});

describe('DatasetPicker', () => {
  const datasets: Dataset[] = [
    { dataset_id: 'ds_1', name: 'alpaca-demo', size: 2048, format: 'alpaca', rows: 1000 },
    { dataset_id: 'ds_2', name: 'chats', size: 10, format: 'sharegpt', rows: 3 },
  ];
  it('lists uploaded datasets by name and picks an id; shows upload only to writers', () => {
    let value: unknown = undefined;
    const render = (canUpload: boolean) =>
      act(() =>
        root.render(
          <DatasetPicker id="f" param={p('source', { type: 'string', kind: 'dataset' })} value={value} onChange={(v) => (value = v)} invalid={false} datasets={datasets} canUpload={canUpload} onUploaded={() => {}} />,
        ),
      );
    render(true);
    const sel = q<HTMLSelectElement>('#f-pick');
    expect([...sel.options].map((o) => o.textContent)).toEqual(['— choose an uploaded dataset —', 'alpaca-demo · alpaca, 1,000 rows, 2.0 KiB', 'chats · sharegpt, 3 rows, 10 B']);
    Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, 'value')!.set!.call(sel, 'ds_2');
    act(() => {
      sel.dispatchEvent(new Event('change', { bubbles: true }));
    });
    expect(value).toBe('ds_2');
    expect(q('input[type=file][aria-label="Upload a dataset file for source"]')).not.toBeNull();
    render(false);
    expect(q('input[type=file]')).toBeNull();
  });
});
