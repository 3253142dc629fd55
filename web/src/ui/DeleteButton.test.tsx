import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act } from 'react';
import { createRoot } from 'react-dom/client';
import { Problem } from '../api';
import { DeleteButton } from './DeleteButton';
import { ModelView } from '../data/ModelPage';
import { DatasetsTable, DatasetView } from '../data/DatasetsPage';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

function render(el: React.ReactElement) {
  const div = document.createElement('div');
  document.body.appendChild(div);
  const root = createRoot(div);
  act(() => root.render(el));
  return div;
}

const button = (div: Element, text: string) => [...div.querySelectorAll('button')].find((b) => b.textContent === text);
/** inDialog is the open dialog's button with this text. */
const inDialog = (div: Element, text: string) => button(div.querySelector('[role="alertdialog"]')!, text);
const flush = () => act(async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
});

afterEach(() => {
  document.body.innerHTML = '';
  vi.unstubAllGlobals();
});

describe('DeleteButton', () => {
  it('asks in a dialog naming the item; Cancel and Escape delete nothing', async () => {
    const del = vi.fn(async () => ({}));
    const done = vi.fn();
    const div = render(<DeleteButton kind="model" name="run-1/ship/gguf" id="mdl_1" onDelete={del} onDeleted={done} />);
    const open = div.querySelector('button[aria-label="Delete model run-1/ship/gguf"]') as HTMLButtonElement;
    expect(open.textContent).toBe('Delete');
    expect(div.querySelector('[role="alertdialog"]')).toBeNull();
    act(() => open.click());
    const dlg = div.querySelector('[role="alertdialog"]')!;
    expect(dlg.getAttribute('aria-modal')).toBe('true');
    expect(dlg.textContent).toContain('Delete model “run-1/ship/gguf”?');
    expect(dlg.textContent).toContain('mdl_1');
    expect(document.activeElement?.textContent).toBe('Cancel');
    act(() => button(dlg, 'Cancel')!.click());
    expect(div.querySelector('[role="alertdialog"]')).toBeNull();
    act(() => open.click());
    act(() => window.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape' })));
    expect(div.querySelector('[role="alertdialog"]')).toBeNull();
    expect(del).not.toHaveBeenCalled();
    expect(done).not.toHaveBeenCalled();
  });

  it('deletes on Delete, then closes and calls onDeleted', async () => {
    const del = vi.fn(async () => ({}));
    const done = vi.fn();
    const div = render(<DeleteButton kind="dataset" name="chat.jsonl" id="ds_1" onDelete={del} onDeleted={done} />);
    act(() => (div.querySelector('button') as HTMLButtonElement).click());
    act(() => button(div.querySelector('[role="alertdialog"]')!, 'Delete')!.click());
    await flush();
    expect(del).toHaveBeenCalledWith(false);
    expect(done).toHaveBeenCalledTimes(1);
    expect(div.querySelector('[role="alertdialog"]')).toBeNull();
  });

  it('shows a 409 in the dialog and offers Delete anyway only when force would do', async () => {
    const adapters = 'model mdl_1 is the base model of LoRA adapter mdl_2 (a/t/model), which cannot be used without it: delete it first, or delete with force=true to keep it without a base';
    const del = vi.fn(async (force: boolean) => {
      if (!force) throw new Problem(409, 'Conflict', adapters, []);
      return {};
    });
    const done = vi.fn();
    const div = render(<DeleteButton kind="model" name="m" id="mdl_1" onDelete={del} onDeleted={done} />);
    act(() => (div.querySelector('button') as HTMLButtonElement).click());
    act(() => inDialog(div, 'Delete')!.click());
    await flush();
    const alert = div.querySelector('[role="alertdialog"] [role="alert"]')!;
    expect(alert.textContent).toBe(`Not deleted: ${adapters}`);
    expect(done).not.toHaveBeenCalled();
    act(() => inDialog(div, 'Delete anyway')!.click());
    await flush();
    expect(del).toHaveBeenLastCalledWith(true);
    expect(done).toHaveBeenCalledTimes(1);
  });

  it('a job using it: the message, no way around it', async () => {
    const busy = 'dataset ds_1 is in use by queued or running job job_9: cancel it or wait for it to end, then delete it';
    const del = vi.fn(async () => {
      throw new Problem(409, 'Conflict', busy, []);
    });
    const div = render(<DeleteButton kind="dataset" name="d" id="ds_1" onDelete={del} onDeleted={() => {}} />);
    act(() => (div.querySelector('button') as HTMLButtonElement).click());
    act(() => inDialog(div, 'Delete')!.click());
    await flush();
    expect(div.querySelector('[role="alert"]')!.textContent).toContain('job_9');
    expect(inDialog(div, 'Delete anyway')).toBeUndefined();
    expect(inDialog(div, 'Delete')!.disabled).toBe(true);
  });
});

// The pages' buttons send the DELETE and go back to the list.
describe('Delete on the model and dataset pages', () => {
  let sent: string[] = [];
  beforeEach(() => {
    sent = [];
    history.replaceState(null, '', '/models/mdl_T1');
    vi.stubGlobal('fetch', async (url: string, init?: RequestInit) => {
      sent.push(`${init?.method ?? 'GET'} ${url}`);
      const u = new URL(String(url), 'http://whet');
      if (init?.method === 'DELETE' && u.pathname.startsWith('/api/v1/models/'))
        return new Response(JSON.stringify({ model_id: 'mdl_T1', deleted: true }), { status: 200 });
      if (init?.method === 'DELETE' && u.pathname === '/api/v1/datasets/ds_busy')
        return new Response(JSON.stringify({ title: 'Conflict', status: 409, detail: 'dataset ds_busy is in use by queued or running job job_7: cancel it or wait for it to end, then delete it' }), { status: 409 });
      if (init?.method === 'DELETE') return new Response(JSON.stringify({ dataset_id: 'ds_1', deleted: true }), { status: 200 });
      return new Response('{}', { status: 200 });
    });
  });

  it('the model page deletes the model and goes to /models', async () => {
    const div = render(<ModelView m={{ model_id: 'mdl_T1', name: 'stories-lora/tune/model', job_id: 'job_1', node_id: 'tune', output: 'model', files: [] }} />);
    const open = div.querySelector('.page-head button[aria-label="Delete model stories-lora/tune/model"]') as HTMLButtonElement;
    act(() => open.click());
    expect(div.querySelector('[role="alertdialog"]')!.textContent).toContain('Delete model “stories-lora/tune/model”?');
    act(() => inDialog(div, 'Delete')!.click());
    await flush();
    expect(sent).toContain('DELETE /api/v1/models/mdl_T1');
    expect(location.pathname).toBe('/models');
  });

  it('the datasets list deletes a row and reloads; a refusal stays in the dialog', async () => {
    const reload = vi.fn();
    const div = render(
      <DatasetsTable
        list={[
          { dataset_id: 'ds_1', name: 'chat.jsonl', size: 10 },
          { dataset_id: 'ds_busy', name: 'busy.jsonl', size: 10 },
        ]}
        onDeleted={reload}
      />,
    );
    act(() => (div.querySelector('tr[data-dataset-id="ds_busy"] button[aria-label="Delete dataset busy.jsonl"]') as HTMLButtonElement).click());
    act(() => inDialog(div, 'Delete')!.click());
    await flush();
    expect(div.querySelector('[role="alertdialog"] [role="alert"]')!.textContent).toContain('job_7');
    expect(reload).not.toHaveBeenCalled();
    act(() => inDialog(div, 'Cancel')!.click());
    act(() => (div.querySelector('tr[data-dataset-id="ds_1"] button[aria-label="Delete dataset chat.jsonl"]') as HTMLButtonElement).click());
    act(() => inDialog(div, 'Delete')!.click());
    await flush();
    expect(sent).toContain('DELETE /api/v1/datasets/ds_1');
    expect(reload).toHaveBeenCalledTimes(1);
  });

  it('without onDeleted (a viewer) there is no Delete', () => {
    const div = render(
      <>
        <DatasetsTable list={[{ dataset_id: 'ds_1', name: 'chat.jsonl', size: 10 }]} />
        <DatasetView d={{ dataset_id: 'ds_1', name: 'chat.jsonl', size: 10 }} />
      </>,
    );
    expect(div.querySelector('button.danger')).toBeNull();
  });
});
