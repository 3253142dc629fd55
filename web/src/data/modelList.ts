// The Models page's list: pages of GET /models (newest first) loaded one
// after another ("Show more"), filtered by the server (q, format), so every
// model can be reached however many there are.

import { useCallback, useEffect, useRef, useState } from 'react';
import { api, type Model } from '../api';

/** PAGE is how many models one "Show more" loads. */
export const PAGE = 100;

/** FormatFilter is a choice of the format filter: a label and the formats it keeps (GET /models?format=, comma-separated). */
export interface FormatFilter {
  value: string;
  label: string;
}

/** FORMAT_FILTERS are the format filter's choices: the formats train (peft-lora, hf) and export (adapter, merged, gguf) record. */
export const FORMAT_FILTERS: FormatFilter[] = [
  { value: '', label: 'any' },
  { value: 'gguf', label: 'GGUF' },
  { value: 'merged', label: 'merged' },
  { value: 'adapter,peft-lora', label: 'PEFT LoRA adapter' },
  { value: 'hf', label: 'full weights (hf)' },
];

/** formatFilters are the choices, with value (from the URL) added when it is none of them. */
export function formatFilters(value: string): FormatFilter[] {
  return !value || FORMAT_FILTERS.some((f) => f.value === value) ? FORMAT_FILTERS : [...FORMAT_FILTERS, { value, label: value }];
}

/** appendModels adds a page to the models loaded so far, leaving out any already there (a model registered between two pages shifts the offsets). */
export function appendModels(have: Model[], page: Model[]): Model[] {
  const seen = new Set(have.map((m) => m.model_id));
  return [...have, ...page.filter((m) => !seen.has(m.model_id))];
}

export interface ModelList {
  /** the models loaded so far, newest first; null until the first page answers */
  models: Model[] | null;
  /** how many models the filters keep on the server */
  total: number;
  error: string;
  loading: boolean;
  /** more loads the next page */
  more: () => void;
}

/** useModelList loads the first page of models matching q and format, and the next page on more(); new filters start over. */
export function useModelList(q: string, format: string, page = PAGE): ModelList {
  const [models, setModels] = useState<Model[] | null>(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState('');
  const [loading, setLoading] = useState(true);
  // the filters' generation: an answer for older filters is dropped
  const gen = useRef(0);
  const loaded = useRef<Model[]>([]);

  const load = useCallback(
    (offset: number) => {
      const g = gen.current;
      setLoading(true);
      api.modelPage({ q, format, limit: page, offset }).then(
        (r) => {
          if (g !== gen.current) return;
          loaded.current = offset ? appendModels(loaded.current, r.models) : r.models;
          setModels(loaded.current);
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
  }, [load]);

  const more = useCallback(() => load(loaded.current.length), [load]);
  return { models, total, error, loading, more };
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

/** RUN_PAGES bounds how many pages runModels reads (a run has a handful of models; q also matches names that contain the run's id). */
const RUN_PAGES = 10;

/** runModels is every model run job made: GET /models?q=<job> page by page (q also keeps models whose name or id contains it; they are left out), newest first. */
export async function runModels(job: string, page = 1000): Promise<Model[]> {
  let have: Model[] = [];
  for (let i = 0, offset = 0; i < RUN_PAGES; i++) {
    const r = await api.modelPage({ q: job, limit: page, offset });
    have = appendModels(have, r.models);
    offset += r.models.length;
    if (!r.models.length || offset >= r.total) break;
  }
  return have.filter((m) => m.job_id === job);
}
