import { useEffect, useRef, useState } from 'react';
import { api } from '../api';
import { Link, useLocation } from '../ui/router';
import { MODEL_ID, modelFormat } from '../data/model';
import { SERVED_FORMATS, TunedPicker } from './ModelPicker';
import { isTuned, listJobs, listModels, saveEvalSample, streamChat, type ChatMessage, type Sampling, type V1Model } from './v1';

interface Answer {
  text: string;
  done: boolean;
  error?: string;
  finish?: string | null;
}

interface Turn {
  user: string;
  answers: Record<string, Answer>;
}

/**
 * preselect picks the models named by ?models=a,b (served ones: /v1/models
 * lists them, or GET /models/{id} finds an exported adapter or merged model),
 * or those a run (?run=JOB) produced: a fine-tuning job's model and base, else
 * the run's exported models (GET /models?q=JOB), however old.
 */
export async function preselect(query: URLSearchParams, models: V1Model[]): Promise<string[]> {
  const known = new Set(models.map((m) => m.id));
  const served = (id: string) =>
    known.has(id)
      ? Promise.resolve(true)
      : MODEL_ID.test(id)
        ? api.model(id).then(
            (m) => SERVED_FORMATS.split(',').includes(modelFormat(m).format),
            () => false,
          )
        : Promise.resolve(false);
  const named = (query.get('models') ?? '').split(',').filter(Boolean);
  const ok = await Promise.all(named.map(served));
  const ids = named.filter((_, i) => ok[i]);
  const run = query.get('run');
  if (run) {
    // A fine-tuning job's run: its fine_tuned_model and base (the run's
    // exported adapter is the same model). Any other run: what it exported.
    const [exported, jobs] = await Promise.all([
      api.modelPage({ q: run, format: SERVED_FORMATS, limit: 100 }).then(
        (r) => r.models,
        () => [],
      ),
      listJobs().catch(() => []),
    ]);
    const ftJob = jobs.find((j) => j.pipeline_jobs?.includes(run) && j.fine_tuned_model && known.has(j.fine_tuned_model));
    if (ftJob) {
      ids.push(ftJob.fine_tuned_model!);
      if (known.has(ftJob.model)) ids.push(ftJob.model);
    } else {
      for (const m of exported) if (m.job_id === run) ids.push(m.model_id);
    }
  }
  return [...new Set(ids)];
}

/** historyFor is the conversation one model has seen: its own earlier answers. */
export function historyFor(system: string, turns: Turn[], model: string): ChatMessage[] {
  const out: ChatMessage[] = system.trim() ? [{ role: 'system', content: system }] : [];
  for (const t of turns) {
    out.push({ role: 'user', content: t.user });
    const a = t.answers[model];
    if (a?.done && !a.error) out.push({ role: 'assistant', content: a.text });
  }
  return out;
}

export function PlaygroundPage() {
  const { query } = useLocation();
  const [models, setModels] = useState<V1Model[] | null>(null);
  const [err, setErr] = useState('');
  const [base, setBase] = useState('');
  const [tuned, setTuned] = useState<string[]>([]);
  const [sampling, setSampling] = useState<Sampling>({ temperature: 0.7, top_p: 1, max_tokens: 128 });
  const [seed, setSeed] = useState('');
  const [system, setSystem] = useState('');
  const [input, setInput] = useState('');
  const [turns, setTurns] = useState<Turn[]>([]);
  const [preferred, setPreferred] = useState<string | null>(null);
  const [dataset, setDataset] = useState('playground-evals');
  const [saved, setSaved] = useState<{ id: string; name: string; rows: number } | null>(null);
  const [saveErr, setSaveErr] = useState('');
  const abort = useRef<AbortController | null>(null);

  useEffect(() => {
    listModels().then(
      async (ms) => {
        setModels(ms);
        const pre = await preselect(query, ms);
        const b = pre.find((id) => !isTuned({ id } as V1Model)) ?? ms.find((m) => !isTuned(m))?.id ?? '';
        setBase(b);
        setTuned(pre.filter((id) => isTuned({ id } as V1Model)));
      },
      (e: Error) => setErr(e.message),
    );
    return () => abort.current?.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const columns = [base, ...tuned].filter(Boolean);
  const busy = turns.some((t) => Object.values(t.answers).some((a) => !a.done));
  const last = turns.at(-1);

  const send = () => {
    const text = input.trim();
    if (!text || !columns.length || busy) return;
    const ti = turns.length;
    const s: Sampling = { ...sampling, ...(seed.trim() ? { seed: Number(seed) } : {}) };
    const histories = Object.fromEntries(columns.map((m) => [m, [...historyFor(system, turns, m), { role: 'user', content: text } as ChatMessage]]));
    setTurns((ts) => [...ts, { user: text, answers: Object.fromEntries(columns.map((m) => [m, { text: '', done: false }])) }]);
    setInput('');
    setPreferred(null);
    setSaved(null);
    const ctl = new AbortController();
    abort.current = ctl;
    const update = (m: string, f: (a: Answer) => Answer) =>
      setTurns((ts) => ts.map((t, i) => (i === ti ? { ...t, answers: { ...t.answers, [m]: f(t.answers[m]) } } : t)));
    for (const m of columns) {
      streamChat(m, histories[m], s, (piece) => update(m, (a) => ({ ...a, text: a.text + piece })), ctl.signal).then(
        (r) => update(m, (a) => ({ ...a, done: true, finish: r.finish })),
        (e: Error) => update(m, (a) => ({ ...a, done: true, error: e.name === 'AbortError' ? 'stopped' : e.message })),
      );
    }
  };

  const save = async () => {
    if (!last) return;
    setSaveErr('');
    const prompt = [...historyFor(system, turns.slice(0, -1), preferred ?? columns[0]), { role: 'user', content: last.user } as ChatMessage];
    try {
      const r = await saveEvalSample(dataset, prompt, preferred ? last.answers[preferred]?.text ?? null : null);
      setSaved({ id: r.dataset_id, name: r.name, rows: r.rows });
    } catch (e) {
      setSaveErr((e as Error).message);
    }
  };

  const toggleTuned = (id: string, on: boolean) => setTuned((ts) => (on ? [...ts, id] : ts.filter((t) => t !== id)));
  const num = (k: keyof Sampling) => (e: React.ChangeEvent<HTMLInputElement>) => setSampling((s) => ({ ...s, [k]: Number(e.target.value) }));

  return (
    <div className="page playground">
      <div className="page-head">
        <h1>Playground</h1>
        <p className="muted small">Send the same conversation to a base model and fine-tuned ones; answers stream side by side.</p>
      </div>
      {err ? (
        <div className="banner error" role="alert">
          Could not load models from /v1/models: {err}
        </div>
      ) : null}
      {models === null && !err ? <p className="muted">Loading models…</p> : null}
      {models ? (
        <div className="pg-setup">
          <label className="field">
            <span>Base model</span>
            <select value={base} onChange={(e) => setBase(e.target.value)} aria-label="Base model">
              <option value="">(none)</option>
              {models.filter((m) => !isTuned(m)).map((m) => (
                <option key={m.id} value={m.id}>
                  {m.id}
                </option>
              ))}
            </select>
          </label>
          <TunedPicker v1={models} selected={tuned} onToggle={toggleTuned} />
          <fieldset className="field pg-sampling">
            <legend>Sampling</legend>
            <label className="row small">
              temperature <input type="number" min={0} max={2} step={0.1} value={sampling.temperature} onChange={num('temperature')} aria-label="Temperature" />
            </label>
            <label className="row small">
              top_p <input type="number" min={0.01} max={1} step={0.05} value={sampling.top_p} onChange={num('top_p')} aria-label="Top p" />
            </label>
            <label className="row small">
              max tokens <input type="number" min={1} max={4096} value={sampling.max_tokens} onChange={num('max_tokens')} aria-label="Max tokens" />
            </label>
            <label className="row small">
              seed <input type="number" value={seed} placeholder="random" onChange={(e) => setSeed(e.target.value)} aria-label="Seed" />
            </label>
          </fieldset>
        </div>
      ) : null}
      <label className="field">
        <span>System prompt</span>
        <textarea rows={2} value={system} onChange={(e) => setSystem(e.target.value)} aria-label="System prompt" />
      </label>
      <div className="pg-columns" style={{ gridTemplateColumns: `repeat(${Math.max(columns.length, 1)}, minmax(0, 1fr))` }}>
        {columns.map((m) => (
          <section key={m} className="pg-column" aria-label={`Answers of ${m}`} data-model={m}>
            <h2 className="mono small">{m}</h2>
            {turns.map((t, i) => {
              const a = t.answers[m];
              return (
                <div key={i} className="pg-turn">
                  <div className="pg-user">{t.user}</div>
                  {a ? (
                    <div className={`pg-answer${a.done ? '' : ' streaming'}`} data-testid="answer" aria-busy={!a.done}>
                      {a.text}
                      {a.error ? <span className="error-text"> ({a.error})</span> : null}
                      {a.done && a.finish ? <span className="muted small"> [{a.finish}]</span> : null}
                    </div>
                  ) : null}
                  {i === turns.length - 1 && a?.done && !a.error ? (
                    <label className="row small">
                      <input type="radio" name="preferred" checked={preferred === m} onChange={() => setPreferred(m)} /> preferred answer
                    </label>
                  ) : null}
                </div>
              );
            })}
          </section>
        ))}
      </div>
      <form
        className="pg-input"
        onSubmit={(e) => {
          e.preventDefault();
          send();
        }}
      >
        <textarea rows={3} value={input} onChange={(e) => setInput(e.target.value)} placeholder="Your message" aria-label="Message" />
        <div className="row">
          <button type="submit" className="primary" disabled={busy || !columns.length || !input.trim()}>
            Send to {columns.length} model{columns.length === 1 ? '' : 's'}
          </button>
          {busy ? (
            <button type="button" onClick={() => abort.current?.abort()}>
              Stop
            </button>
          ) : null}
          <button type="button" disabled={busy || !turns.length} onClick={() => (setTurns([]), setSaved(null))}>
            New conversation
          </button>
        </div>
      </form>
      {last && !busy ? (
        <div className="row wrap pg-save">
          <label className="field">
            <span>Dataset</span>
            <input type="text" value={dataset} onChange={(e) => setDataset(e.target.value)} aria-label="Dataset name" />
          </label>
          <button type="button" onClick={save}>
            Save as eval sample{preferred ? ' (with the preferred answer)' : ''}
          </button>
          {saved ? (
            <span role="status">
              Saved: <Link to={`/datasets/${encodeURIComponent(saved.id)}`}>{saved.name}</Link> now has {saved.rows} sample{saved.rows === 1 ? '' : 's'}.
            </span>
          ) : null}
          {saveErr ? (
            <span className="error-text" role="alert">
              {saveErr}
            </span>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}
