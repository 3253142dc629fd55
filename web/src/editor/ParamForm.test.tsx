import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Param } from '../api';
import { ParamForm } from './ParamForm';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const params: Param[] = [
  { name: 'source', type: 'string', description: 'Dataset to read.', required: true, kind: 'dataset' },
  { name: 'epochs', type: 'integer', description: 'Passes over the data.', default: 3, minimum: 1, maximum: 100 },
  { name: 'learning_rate', type: 'number', default: 0.0002, minimum: 0 },
  { name: 'packing', type: 'boolean', description: 'Pack short rows.', default: true },
  { name: 'method', type: 'string', enum: ['lora', 'full'], default: 'lora' },
  { name: 'targets', type: 'array', items: 'string', enum: ['q_proj', 'k_proj', 'v_proj'], default: ['q_proj', 'v_proj'] },
  { name: 'stop', type: 'array', items: 'integer' },
  { name: 'token', type: 'string', kind: 'secret' },
  {
    name: 'lora',
    type: 'object',
    description: 'Adapter shape.',
    fields: [
      { name: 'rank', type: 'integer', default: 8, minimum: 1, maximum: 256 },
      { name: 'dropout', type: 'number', default: 0.05, minimum: 0, maximum: 1 },
    ],
  },
];

let root: Root;
let el: HTMLDivElement;
let values: Record<string, unknown>;
let errors: Record<string, string> | undefined;

function render() {
  act(() =>
    root.render(
      <ParamForm
        params={params}
        values={values}
        errors={errors}
        idPrefix="p"
        suggestions={{ dataset: ['ds-1', 'ds-2'] }}
        onChange={(name, v) => {
          values = { ...values };
          if (v === undefined) delete values[name];
          else values[name] = v;
          render();
        }}
      />,
    ),
  );
}

// React tracks input values; set through the native setter so onChange fires.
function type(input: HTMLInputElement | HTMLSelectElement, value: string) {
  const proto = input instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype;
  Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(input, value);
  act(() => {
    input.dispatchEvent(new Event(input instanceof HTMLSelectElement ? 'change' : 'input', { bubbles: true }));
  });
}
const q = <T extends Element>(sel: string) => el.querySelector(sel) as T;
const label = (id: string) => q<HTMLLabelElement>(`label[for="${id}"]`)?.textContent;

beforeEach(() => {
  el = document.createElement('div');
  document.body.appendChild(el);
  root = createRoot(el);
  values = {};
  errors = undefined;
  render();
});
afterEach(() => {
  act(() => root.unmount());
  el.remove();
});

describe('ParamForm', () => {
  it('generates a labelled control per type', () => {
    expect(q<HTMLInputElement>('#p-source').type).toBe('text');
    expect(q<HTMLInputElement>('#p-epochs').type).toBe('number');
    expect(q<HTMLInputElement>('#p-packing').type).toBe('checkbox');
    expect(q('#p-method').tagName).toBe('SELECT');
    expect(q<HTMLInputElement>('#p-token').type).toBe('password');
    expect(el.querySelectorAll('input[name="targets[]"]')).toHaveLength(3);
    expect(q('fieldset legend')?.textContent).toBe('targets');
    expect(q<HTMLInputElement>('#p-lora-rank').type).toBe('number');
    for (const id of ['p-source', 'p-epochs', 'p-learning_rate', 'p-packing', 'p-method', 'p-stop', 'p-token', 'p-lora-rank', 'p-lora-dropout'])
      expect(label(id), id).toBeTruthy();
    expect(label('p-source')).toBe('source *');
  });

  it('shows ranges, defaults and descriptions, tied to the control', () => {
    const epochs = q<HTMLInputElement>('#p-epochs');
    expect(epochs.min).toBe('1');
    expect(epochs.max).toBe('100');
    expect(epochs.step).toBe('1');
    expect(epochs.placeholder).toBe('3');
    expect(q<HTMLInputElement>('#p-learning_rate').step).toBe('any');
    const help = document.getElementById(epochs.getAttribute('aria-describedby')!.split(' ')[0])!;
    expect(help.textContent).toBe('Passes over the data. Range 1 to 100. Default 3.');
    expect(q<HTMLInputElement>('#p-packing').checked).toBe(true); // default true
    expect(q<HTMLSelectElement>('#p-method').options[0].textContent).toBe('default (lora)');
    const targets = [...el.querySelectorAll<HTMLInputElement>('input[name="targets[]"]')].map((i) => i.checked);
    expect(targets).toEqual([true, false, true]);
    expect(q('#p-source-list')?.querySelectorAll('option')).toHaveLength(2);
  });

  it('emits typed values', () => {
    type(q('#p-epochs'), '5');
    expect(values.epochs).toBe(5);
    type(q('#p-learning_rate'), '1e-4');
    expect(values.learning_rate).toBe(0.0001);
    act(() => q<HTMLInputElement>('#p-packing').click());
    expect(values.packing).toBe(false);
    type(q('#p-method'), 'full');
    expect(values.method).toBe('full');
    act(() => el.querySelectorAll<HTMLInputElement>('input[name="targets[]"]')[1].click());
    expect(values.targets).toEqual(['q_proj', 'v_proj', 'k_proj']);
    type(q('#p-stop'), '1, 2,3');
    expect(values.stop).toEqual([1, 2, 3]);
    type(q('#p-lora-rank'), '16');
    expect(values.lora).toEqual({ rank: 16 });
    type(q('#p-epochs'), '');
    expect('epochs' in values).toBe(false);
  });

  it('marks out-of-range and missing values on the field', () => {
    expect(q('#p-source').getAttribute('aria-invalid')).toBe('true');
    expect(q('#p-source-error')?.textContent).toBe('required');
    type(q('#p-source'), 'ds-1');
    expect(q('#p-source').getAttribute('aria-invalid')).toBeNull();
    type(q('#p-epochs'), '0');
    expect(q('#p-epochs-error')?.textContent).toBe('must be ≥ 1');
    expect(q('#p-epochs').getAttribute('aria-describedby')).toContain('p-epochs-error');
    type(q('#p-lora-dropout'), '2');
    expect(q('#p-lora-dropout-error')?.textContent).toBe('must be ≤ 1');
  });

  it('shows server errors on the field they name, over client checks', () => {
    values = { epochs: 5, source: 'ds-1' };
    errors = { epochs: 'too many epochs for this dataset' };
    render();
    expect(q('#p-epochs-error')?.textContent).toBe('too many epochs for this dataset');
    expect(q('[data-param="epochs"]')?.classList.contains('has-error')).toBe(true);
    expect(q('#p-epochs-error')?.getAttribute('role')).toBe('alert');
  });

  it('resets a value to its default', () => {
    type(q('#p-epochs'), '7');
    const reset = q<HTMLButtonElement>('button[aria-label="Reset epochs to default"]');
    act(() => reset.click());
    expect('epochs' in values).toBe(false);
    expect(q('button[aria-label="Reset epochs to default"]')).toBeNull();
  });
});
