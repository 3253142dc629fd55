// The Models page's list: pages of GET /models (newest first), loaded and
// filtered as pagedList does, and the models of one run.

import { api, type Model } from '../api';
import { appendPage, usePagedList, withFilter, type FormatFilter } from './pagedList';

export { useDebounced, type FormatFilter } from './pagedList';

/** PAGE is how many models one "Show more" loads. */
export const PAGE = 100;

/** FORMAT_FILTERS are the format filter's choices: the formats train (peft-lora, hf) and export (adapter, merged, gguf) record. */
export const FORMAT_FILTERS: FormatFilter[] = [
  { value: '', label: 'any' },
  { value: 'gguf', label: 'GGUF' },
  { value: 'merged', label: 'merged' },
  { value: 'adapter,peft-lora', label: 'PEFT LoRA adapter' },
  { value: 'hf', label: 'full weights (hf)' },
];

/** formatFilters are the choices, with value (from the URL) added when it is none of them. */
export const formatFilters = (value: string) => withFilter(FORMAT_FILTERS, value);

const modelKey = (m: Model) => m.model_id;

/** appendModels adds a page to the models loaded so far, leaving out any already there (a model registered between two pages shifts the offsets). */
export const appendModels = (have: Model[], page: Model[]) => appendPage(have, page, modelKey);

export interface ModelList {
  /** the models loaded so far, newest first; null until the first page answers */
  models: Model[] | null;
  /** how many models the filters keep on the server */
  total: number;
  error: string;
  loading: boolean;
  /** more loads the next page */
  more: () => void;
  /** reload starts over from the first page (after a deletion) */
  reload: () => void;
}

const modelPage = async (p: Parameters<typeof api.modelPage>[0]) => {
  const r = await api.modelPage(p);
  return { items: r.models, total: r.total };
};

/** useModelList loads the first page of models matching q and format, and the next page on more(); new filters start over. */
export function useModelList(q: string, format: string, page = PAGE): ModelList {
  const l = usePagedList(modelPage, modelKey, q, format, page);
  return { models: l.items, total: l.total, error: l.error, loading: l.loading, more: l.more, reload: l.reload };
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
