// The playground's picker of fine-tuned models: the fine-tuning jobs' models
// from /v1/models and the registered models /v1 serves (trained and exported)
// that the server finds for a search (GET /api/v1/models?q=&format=
// adapter,merged,peft-lora,hf, newest first, a page at a time), so any model can be found however many there
// are. Chosen models stay listed (and chosen) while the search changes.

import { useRef, useState } from 'react';
import type { Model } from '../api';
import { useDebounced, useModelList } from '../data/modelList';
import { stripPaths } from '../data/paths';
import { fmtNum } from '../ui/format';
import type { V1Model } from './v1';

/** SERVED_FORMATS are the registered models /v1 serves (GET /models?format=; internal/openai servable): exported PEFT adapters and merged folders, and the trained LoRA adapters and full models. */
export const SERVED_FORMATS = 'adapter,merged,peft-lora,hf';

/** PICK_PAGE is how many exported models one page of the picker shows. */
export const PICK_PAGE = 20;

/** SEARCH_DELAY is how long (ms) the search text stays the same before the server is asked. */
export const SEARCH_DELAY = 250;

/** Choice is one model the picker offers: a fine-tuning job's (ft:...) or an exported one (mdl_...). */
export interface Choice {
  id: string;
  /** what people read beside the id: the exported model's name and run */
  detail?: string;
  /** seconds since the epoch */
  created: number;
}

export const exportedChoice = (m: Model): Choice => ({
  id: m.model_id,
  detail: [m.name ? stripPaths(m.name) : '', m.job_id ? `run ${m.job_id}` : ''].filter(Boolean).join(' · ') || undefined,
  created: m.created_at ? Date.parse(m.created_at) / 1000 || 0 : 0,
});

/**
 * choices merges the fine-tuning jobs' models that match q (any case) with
 * a page of exported ones, newest first. While older exported models are
 * still to load, jobs' models older than the oldest loaded are left for
 * later, so "Show more" extends the list at its end.
 */
export function choices(ft: V1Model[], exported: Model[], q: string, complete: boolean): Choice[] {
  const ex = exported.map(exportedChoice);
  const oldest = complete || !ex.length ? -Infinity : Math.min(...ex.map((c) => c.created));
  const needle = q.toLowerCase();
  const jobs = ft
    .filter((m) => m.id.startsWith('ft:') && (!needle || m.id.toLowerCase().includes(needle)) && (complete || m.created >= oldest))
    .map((m) => ({ id: m.id, created: m.created }));
  return [...jobs, ...ex].sort((a, b) => b.created - a.created);
}

export interface TunedPickerProps {
  /** /v1/models: its fine-tuning jobs' models (ft:...) are offered */
  v1: V1Model[];
  selected: string[];
  onToggle: (id: string, on: boolean) => void;
}

/** TunedPicker is a search box and the fine-tuned models matching it, as checkboxes, newest first, with "Show more". */
export function TunedPicker({ v1, selected, onToggle }: TunedPickerProps) {
  const [q, setQ] = useState('');
  const search = useDebounced(q.trim(), SEARCH_DELAY);
  const list = useModelList(search, SERVED_FORMATS, PICK_PAGE);
  // what each exported model seen so far is, to name it once the search moves on
  const known = useRef(new Map<string, Choice>());
  const loaded = list.models ?? [];
  for (const m of loaded) known.current.set(m.model_id, exportedChoice(m));
  const complete = list.models !== null && loaded.length >= list.total;
  const shown = choices(v1, loaded, search, complete);
  const shownIDs = new Set(shown.map((c) => c.id));
  const kept = selected.filter((id) => !shownIDs.has(id)).map((id) => known.current.get(id) ?? { id, created: 0 });
  const ftCount = v1.filter((m) => m.id.startsWith('ft:')).length;

  const box = (c: Choice) => (
    <label key={c.id} className="small pg-choice" data-choice={c.id}>
      <input type="checkbox" checked={selected.includes(c.id)} onChange={(e) => onToggle(c.id, e.target.checked)} />
      <span className="pg-choice-text">
        <span className="mono">{c.id}</span>
        {c.detail ? <span className="muted">{c.detail}</span> : null}
      </span>
    </label>
  );

  return (
    <fieldset className="field pg-tuned">
      <legend>Fine-tuned models</legend>
      <input
        type="search"
        value={q}
        placeholder="name, model or run id"
        aria-label="Search fine-tuned models"
        aria-describedby="pg-tuned-status"
        onChange={(e) => setQ(e.target.value)}
      />
      {kept.length ? <div className="pg-kept" aria-label="Chosen models">{kept.map(box)}</div> : null}
      <div className="pg-choices">{shown.map(box)}</div>
      <p id="pg-tuned-status" className="muted small" role="status" data-exported-shown={loaded.length} data-exported-total={list.total}>
        {list.error
          ? `Could not search the exported models: ${stripPaths(list.error)}`
          : list.models === null
            ? 'Loading models…'
            : !shown.length && !search && !ftCount
              ? 'None yet: fine-tune through a run or /v1/fine_tuning/jobs.'
              : !shown.length
                ? `No fine-tuned model matches “${search}”.`
                : `${fmtNum(shown.length)} ${search ? 'matching ' : ''}model${shown.length === 1 ? '' : 's'}, newest first${complete ? '' : `; ${fmtNum(list.total - loaded.length)} older exported to load`}`}
      </p>
      {list.models !== null && !complete ? (
        <button type="button" className="small" onClick={list.more} disabled={list.loading}>
          {list.loading ? 'Loading…' : `Show more (${fmtNum(list.total - loaded.length)} older)`}
        </button>
      ) : null}
    </fieldset>
  );
}
