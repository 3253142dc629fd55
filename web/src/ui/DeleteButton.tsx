// DeleteButton is the one way the UI deletes something: a Delete button that
// first asks, in a dialog naming the item, and deletes only on "Delete". A
// refusal (409: a queued or running job uses it, or LoRA adapters need it as
// their base) is shown in the dialog; when the server says force=true would
// do, the dialog offers "Delete anyway".

import { useEffect, useId, useRef, useState } from 'react';
import { Problem } from '../api';

export interface DeleteProps {
  /** what it is: "model", "dataset" */
  kind: string;
  /** its name, as the dialog names it */
  name: string;
  id: string;
  /** what deleting removes; defaults to "the <kind> and its files". */
  consequence?: string;
  /** deletes it; force is true after "Delete anyway". */
  onDelete: (force: boolean) => Promise<unknown>;
  /** runs once it is deleted (navigate away, reload a list). */
  onDeleted: () => void;
}

/** DeleteButton opens the confirmation dialog. */
export function DeleteButton({ className, ...p }: DeleteProps & { className?: string }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" className={`danger ${className ?? ''}`.trim()} aria-label={`Delete ${p.kind} ${p.name}`} aria-haspopup="dialog" onClick={() => setOpen(true)}>
        Delete
      </button>
      {open ? <ConfirmDelete {...p} onClose={() => setOpen(false)} /> : null}
    </>
  );
}

interface Refusal {
  text: string;
  conflict: boolean;
  canForce: boolean;
}

/** ConfirmDelete is the dialog: Cancel (focused; Escape too) or Delete. */
export function ConfirmDelete({ kind, name, id, consequence, onDelete, onDeleted, onClose }: DeleteProps & { onClose: () => void }) {
  const [busy, setBusy] = useState(false);
  const [refusal, setRefusal] = useState<Refusal | null>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  const title = useId();
  const desc = useId();
  useEffect(() => cancel.current?.focus(), []);
  useEffect(() => {
    const key = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && !busy) onClose();
    };
    window.addEventListener('keydown', key);
    return () => window.removeEventListener('keydown', key);
  }, [busy, onClose]);
  const run = async (force: boolean) => {
    setBusy(true);
    setRefusal(null);
    try {
      await onDelete(force);
    } catch (e) {
      const p = e instanceof Problem ? e : null;
      const text = p ? p.detail || p.title : (e as Error)?.message || String(e);
      setRefusal({ text, conflict: p?.status === 409, canForce: !force && p?.status === 409 && text.includes('force=true') });
      setBusy(false);
      return;
    }
    onClose();
    onDeleted();
  };
  return (
    <div className="dialog-backdrop">
      <div className="dialog panel" role="alertdialog" aria-modal="true" aria-labelledby={title} aria-describedby={desc} data-delete-dialog={id}>
        <h2 id={title}>
          Delete {kind} “{name}”?
        </h2>
        <p id={desc}>
          {consequence ?? `This deletes the ${kind} and its files from the server.`} It cannot be undone. <span className="mono small muted">{id}</span>
        </p>
        {refusal ? (
          <div className="banner error" role="alert" data-delete-refused={refusal.conflict || undefined}>
            {refusal.conflict ? 'Not deleted: ' : 'Could not delete: '}
            {refusal.text}
          </div>
        ) : null}
        <div className="row dialog-actions">
          <button type="button" ref={cancel} onClick={onClose} disabled={busy}>
            Cancel
          </button>
          {refusal?.canForce ? (
            <button type="button" className="danger" onClick={() => run(true)} disabled={busy}>
              {busy ? 'Deleting…' : 'Delete anyway'}
            </button>
          ) : (
            <button type="button" className="danger" onClick={() => run(false)} disabled={busy || (refusal?.conflict ?? false)}>
              {busy ? 'Deleting…' : 'Delete'}
            </button>
          )}
        </div>
      </div>
    </div>
  );
}
