import { useCallback, useEffect, useRef, useState } from 'react';

/**
 * useHistory keeps a value with undo/redo. update(fn, key) records the
 * current value before applying fn, unless key equals the key of the last
 * recorded update (so typing in one field is one undo step); key null never
 * records (used while dragging, after a recorded drag start).
 */
export function useHistory<T>(initial: () => T, limit = 100) {
  const [state, setState] = useState(() => ({ past: [] as T[], present: initial(), future: [] as T[] }));
  const lastKey = useRef<string | undefined>(undefined);

  const update = useCallback(
    (fn: (cur: T) => T, key?: string | null) => {
      setState((s) => {
        const next = fn(s.present);
        if (next === s.present) return s;
        if (key === null || (key !== undefined && key === lastKey.current)) return { ...s, present: next };
        lastKey.current = key;
        return { past: [...s.past, s.present].slice(-limit), present: next, future: [] };
      });
    },
    [limit],
  );
  const undo = useCallback(() => {
    lastKey.current = undefined;
    setState((s) => (s.past.length ? { past: s.past.slice(0, -1), present: s.past[s.past.length - 1], future: [s.present, ...s.future] } : s));
  }, []);
  const redo = useCallback(() => {
    lastKey.current = undefined;
    setState((s) => (s.future.length ? { past: [...s.past, s.present], present: s.future[0], future: s.future.slice(1) } : s));
  }, []);
  return { value: state.present, update, undo, redo, canUndo: state.past.length > 0, canRedo: state.future.length > 0 };
}

/** useUndoKeys binds Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y (outside form fields) to undo and redo. */
export function useUndoKeys(undo: () => void, redo: () => void) {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (t.closest('input, textarea, select, [contenteditable]')) return;
      const mod = e.ctrlKey || e.metaKey;
      if (mod && e.key.toLowerCase() === 'z' && !e.shiftKey) {
        e.preventDefault();
        undo();
      } else if (mod && (e.key.toLowerCase() === 'y' || (e.key.toLowerCase() === 'z' && e.shiftKey))) {
        e.preventDefault();
        redo();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [undo, redo]);
}
