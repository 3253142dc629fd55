// Paged, filtered lists: pages of a list endpoint (newest first) loaded one
// after another ("Show more"), filtered by the server (q, format), so every
// item can be reached however many there are. The Models and Datasets pages
// and the playground's picker use it.

import { useCallback, useEffect, useRef, useState } from 'react';
import type { Page, PageParams } from '../api';

/** FormatFilter is a choice of a format filter: a label and the formats it keeps (?format=, comma-separated). */
export interface FormatFilter {
  value: string;
  label: string;
}

/** withFilter is choices, with value (from the URL) added when it is none of them. */
export function withFilter(choices: FormatFilter[], value: string): FormatFilter[] {
  return !value || choices.some((f) => f.value === value) ? choices : [...choices, { value, label: value }];
}

/** appendPage adds a page to the items loaded so far, leaving out any already there (an item added between two pages shifts the offsets). */
export function appendPage<T>(have: T[], page: T[], key: (t: T) => string): T[] {
  const seen = new Set(have.map(key));
  return [...have, ...page.filter((t) => !seen.has(key(t)))];
}

export interface PagedList<T> {
  /** the items loaded so far, newest first; null until the first page answers */
  items: T[] | null;
  /** how many items the filters keep on the server */
  total: number;
  error: string;
  loading: boolean;
  /** more loads the next page */
  more: () => void;
  /** reload starts over from the first page (after an upload, say) */
  reload: () => void;
}

/**
 * usePagedList loads the first page of fetchPage's items matching q and
 * format, and the next page on more(); new filters start over. key names an
 * item, to keep each once.
 */
export function usePagedList<T>(fetchPage: (p: PageParams) => Promise<Page<T>>, key: (t: T) => string, q: string, format: string, page: number): PagedList<T> {
  const [items, setItems] = useState<T[] | null>(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState('');
  const [loading, setLoading] = useState(true);
  const [nonce, setNonce] = useState(0);
  // the filters' generation: an answer for older filters is dropped
  const gen = useRef(0);
  const loaded = useRef<T[]>([]);
  // the callers pass functions made at each render: the latest are used, and only the filters restart the list
  const fns = useRef({ fetchPage, key });
  fns.current = { fetchPage, key };

  const load = useCallback(
    (offset: number) => {
      const g = gen.current;
      setLoading(true);
      fns.current.fetchPage({ q, format, limit: page, offset }).then(
        (r) => {
          if (g !== gen.current) return;
          loaded.current = offset ? appendPage(loaded.current, r.items, fns.current.key) : r.items;
          setItems(loaded.current);
          setTotal(r.total);
          setError('');
          setLoading(false);
        },
        (e: Error) => {
          if (g !== gen.current) return;
          setError(e.message || String(e));
          setLoading(false);
        },
      );
    },
    [q, format, page],
  );

  useEffect(() => {
    gen.current++;
    loaded.current = [];
    load(0);
    return () => {
      gen.current++;
    };
  }, [load, nonce]);

  const more = useCallback(() => load(loaded.current.length), [load]);
  const reload = useCallback(() => setNonce((n) => n + 1), []);
  return { items, total, error, loading, more, reload };
}

/** useDebounced is value once it has stayed the same for ms. */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

/** withParam is path with the page's query string, k set to v (or removed when v is empty): a list's filters live in the URL. */
export function withParam(path: string, search: string, k: string, v: string): string {
  const p = new URLSearchParams(search);
  if (v) p.set(k, v);
  else p.delete(k);
  return `${path}${p.toString() ? `?${p}` : ''}`;
}
