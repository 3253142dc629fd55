// Client of whet serve's OpenAI-compatible API (/v1) for the playground:
// the model list, streamed chat completions (OpenAI's SSE chunks) and the
// "save as eval sample" extension.

export const V1 = '/v1';

export interface V1Model {
  id: string;
  created: number;
  owned_by: string;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface Sampling {
  temperature: number;
  top_p: number;
  max_tokens: number;
  seed?: number;
}

/** V1Error is an error in OpenAI's shape. */
export class V1Error extends Error {
  constructor(
    public status: number,
    message: string,
    public code?: string | null,
  ) {
    super(message);
  }
}

async function fail(r: Response): Promise<never> {
  let msg = `${r.status} ${r.statusText}`;
  let code: string | null | undefined;
  try {
    const b = await r.json();
    if (b?.error?.message) {
      msg = b.error.message;
      code = b.error.code;
    }
  } catch {
    /* not JSON */
  }
  throw new V1Error(r.status, msg, code);
}

export async function listModels(): Promise<V1Model[]> {
  const r = await fetch(`${V1}/models`);
  if (!r.ok) await fail(r);
  return (await r.json()).data as V1Model[];
}

/** isTuned tells fine-tuned and exported models from base models. */
export const isTuned = (m: V1Model) => m.id.startsWith('ft:') || m.id.startsWith('mdl_');

export interface FineTuningJob {
  id: string;
  model: string;
  status: string;
  fine_tuned_model: string | null;
  pipeline_jobs?: string[];
}

export async function listJobs(): Promise<FineTuningJob[]> {
  const r = await fetch(`${V1}/fine_tuning/jobs?limit=100`);
  if (!r.ok) await fail(r);
  return (await r.json()).data as FineTuningJob[];
}

/** parseSSE splits buffered text into complete `data:` payloads and the rest. */
export function parseSSE(buf: string): { events: string[]; rest: string } {
  const events: string[] = [];
  let i: number;
  while ((i = buf.indexOf('\n\n')) >= 0) {
    const block = buf.slice(0, i);
    buf = buf.slice(i + 2);
    const data = block
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).replace(/^ /, ''))
      .join('\n');
    if (data) events.push(data);
  }
  return { events, rest: buf };
}

/** streamChat sends one chat completion with stream: true and calls onText with each piece. */
export async function streamChat(
  model: string,
  messages: ChatMessage[],
  s: Sampling,
  onText: (t: string) => void,
  signal?: AbortSignal,
): Promise<{ finish: string | null; tokens: number | null }> {
  const body = { model, messages, stream: true, stream_options: { include_usage: true }, ...s };
  const r = await fetch(`${V1}/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  });
  if (!r.ok || !r.body) await fail(r);
  const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let finish: string | null = null;
  let tokens: number | null = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const p = parseSSE(buf + value);
    buf = p.rest;
    for (const ev of p.events) {
      if (ev === '[DONE]') return { finish, tokens };
      const c = JSON.parse(ev);
      if (c.error) throw new V1Error(500, c.error.message);
      if (c.usage) tokens = c.usage.completion_tokens;
      for (const ch of c.choices ?? []) {
        if (ch.delta?.content) onText(ch.delta.content);
        if (ch.finish_reason) finish = ch.finish_reason;
      }
    }
  }
  return { finish, tokens };
}

export async function saveEvalSample(dataset: string, messages: ChatMessage[], preferred: string | null) {
  const r = await fetch(`${V1}/playground/eval_samples`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ dataset, messages, preferred }),
  });
  if (!r.ok) await fail(r);
  return (await r.json()) as { dataset_id: string; name: string; rows: number };
}
