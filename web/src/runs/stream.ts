// The live event stream of a job (GET /api/v1/logs/stream/{id}, SSE). Each
// event has a monotonic id; the reducer drops any event whose id it has
// already seen, so replays after a reconnect (the browser sends
// Last-Event-ID, and we pass ?after= when we reconnect ourselves) never
// duplicate a line, and since the server replays everything after that id,
// nothing is missed.

import { useEffect, useRef, useState } from 'react';
import { api } from '../api';

export interface LogLine {
  /** a node lifecycle line (started, succeeded, failed, cancelled). */
  lifecycle?: boolean;
  id: number;
  node?: string;
  level: string;
  msg: string;
  time?: string;
  attrs?: Record<string, unknown>;
}

export interface Progress {
  fraction: number;
  eta?: number; // seconds
  message?: string;
}

export interface StreamState {
  lastId: number;
  logs: LogLine[];
  /** metrics[node][name] = [[step, value], ...] */
  metrics: Record<string, Record<string, [number, number][]>>;
  progress: Record<string, Progress>;
  nodeStatus: Record<string, string>;
  status?: string;
  error?: string;
  done: boolean;
  /** duplicates dropped, for tests and diagnostics */
  dropped: number;
}

export const emptyStream = (): StreamState => ({ lastId: 0, logs: [], metrics: {}, progress: {}, nodeStatus: {}, done: false, dropped: 0 });

export interface RawEvent {
  id: string;
  type: string;
  data: string;
}

export const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'canceled', 'completed', 'error']);

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const num = (v: unknown) => (typeof v === 'number' ? v : typeof v === 'string' && v !== '' && !Number.isNaN(Number(v)) ? Number(v) : undefined);

/** applyEvents folds events into the state (a new object when anything changed). */
export function applyEvents(s: StreamState, events: RawEvent[]): StreamState {
  if (!events.length) return s;
  const n: StreamState = { ...s, logs: s.logs, metrics: s.metrics, progress: s.progress, nodeStatus: s.nodeStatus };
  let logs: LogLine[] | null = null;
  for (const ev of events) {
    const id = Number(ev.id);
    if (Number.isFinite(id) && ev.id !== '') {
      if (id <= n.lastId) {
        n.dropped++;
        continue;
      }
      n.lastId = id;
    }
    let d: Record<string, unknown> = {};
    try {
      const v = JSON.parse(ev.data);
      d = v && typeof v === 'object' ? v : { value: v };
    } catch {
      d = { msg: ev.data };
    }
    // whet serve sends the stored event: {job_id, seq, type, node, time, data: {...}}.
    if (d.data && typeof d.data === 'object' && !Array.isArray(d.data) && ('seq' in d || 'job_id' in d)) {
      d = { ...(d.data as Record<string, unknown>), node: d.node, time: d.time };
    }
    const node = str(d.node) || str(d.node_id) || undefined;
    switch (ev.type) {
      case 'log':
      case 'message': {
        logs ??= [...n.logs];
        const attrs = (d.attrs && typeof d.attrs === 'object' ? d.attrs : undefined) as Record<string, unknown> | undefined;
        logs.push({ id, node, level: (str(d.level) ?? 'info').toLowerCase(), msg: str(d.msg) ?? str(d.message) ?? '', time: str(d.time) ?? str(d.ts), attrs });
        break;
      }
      case 'progress': {
        if (!node) break;
        const fraction = num(d.fraction) ?? num(d.progress) ?? 0;
        const etaS = num(d.eta_seconds) ?? num(d.eta_s) ?? (num(d.eta_ms) !== undefined ? num(d.eta_ms)! / 1000 : undefined) ?? num(d.eta);
        n.progress = { ...n.progress, [node]: { fraction, eta: etaS, message: str(d.message) ?? str(d.msg) } };
        break;
      }
      case 'metric':
      case 'metrics': {
        const k = node ?? '';
        const step = num(d.step) ?? 0;
        const values = (d.values && typeof d.values === 'object' ? d.values : d.metrics && typeof d.metrics === 'object' ? d.metrics : undefined) as
          | Record<string, unknown>
          | undefined;
        const pairs: [string, number][] = values
          ? Object.entries(values).flatMap(([name, v]) => (typeof v === 'number' ? [[name, v] as [string, number]] : []))
          : str(d.name) && num(d.value) !== undefined
            ? [[str(d.name)!, num(d.value)!]]
            : [];
        if (!pairs.length) break;
        const byName = { ...(n.metrics[k] ?? {}) };
        for (const [name, v] of pairs) byName[name] = [...(byName[name] ?? []), [step, v]];
        n.metrics = { ...n.metrics, [k]: byName };
        break;
      }
      case 'node': {
        const status = str(d.status);
        if (node && status) {
          // node lifecycle lines go into the log with the engine's lines
          logs ??= [...n.logs];
          const attempt = num(d.attempt);
          const err = str(d.error);
          const retry = num(d.retry_in_s);
          const what =
            status === 'running'
              ? `started${attempt && attempt > 1 ? ` (attempt ${attempt})` : ''}`
              : status === 'pending' && err
                ? `failed, retrying${retry ? ` in ${Math.round(retry)} s` : ''}: ${err}`
                : `${status}${d.cached ? ' (from the cache)' : ''}${err && status !== 'succeeded' ? `: ${err}` : ''}`;
          const level = status === 'failed' ? 'error' : status === 'cancelled' || (status === 'pending' && err) ? 'warn' : 'info';
          logs.push({ id, node, level, msg: `node ${node} ${what}`, time: str(d.time), lifecycle: true });
          n.nodeStatus = { ...n.nodeStatus, [node]: status };
          if (status === 'succeeded' && n.progress[node]) n.progress = { ...n.progress, [node]: { ...n.progress[node], fraction: 1, eta: 0 } };
        }
        break;
      }
      case 'status': {
        const status = str(d.status);
        if (status) n.status = status;
        if (str(d.error)) n.error = str(d.error);
        if ((status && TERMINAL.has(status)) || d.final === true) n.done = true;
        break;
      }
    }
  }
  if (logs) n.logs = logs;
  return n;
}

export type ConnState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/**
 * useJobStream follows a job's events until its final status. Events are
 * batched per animation frame so a fast log does not re-render per line.
 */
export function useJobStream(jobID: string): { state: StreamState; conn: ConnState; reconnects: number } {
  const [state, setState] = useState<StreamState>(emptyStream);
  const [conn, setConn] = useState<ConnState>('connecting');
  const [reconnects, setReconnects] = useState(0);
  const stateRef = useRef(state);
  stateRef.current = state;

  useEffect(() => {
    setState(emptyStream());
    let es: EventSource | null = null;
    let queue: RawEvent[] = [];
    let frame = 0;
    let timer = 0;
    let stopped = false;
    let lastId = 0;
    let done = false;
    let backoff = 500;

    const flush = () => {
      frame = 0;
      const batch = queue;
      queue = [];
      setState((s) => {
        const n = applyEvents(s, batch);
        if (n.done && !done) {
          done = true;
          es?.close();
          setConn('closed');
        }
        return n;
      });
    };
    const onEvent = (type: string) => (e: MessageEvent) => {
      const id = Number(e.lastEventId);
      if (Number.isFinite(id) && e.lastEventId !== '' && id > lastId) lastId = id;
      queue.push({ id: e.lastEventId, type, data: typeof e.data === 'string' ? e.data : '' });
      // a final status closes the stream at once, so the browser does not reconnect
      if (type === 'status') {
        try {
          const v = JSON.parse(e.data);
          const st = v?.data && typeof v.data === 'object' ? v.data.status : v?.status;
          if (TERMINAL.has(st)) {
            done = true;
            es?.close();
            setConn('closed');
          }
        } catch {
          /* ignore */
        }
      }
      if (!frame) frame = requestAnimationFrame(flush);
    };
    const open = () => {
      if (stopped || done) return;
      const url = api.logStreamURL(jobID, lastId);
      es = new EventSource(url);
      for (const t of ['log', 'progress', 'metric', 'metrics', 'node', 'status', 'message']) es.addEventListener(t, onEvent(t) as EventListener);
      es.onopen = () => {
        backoff = 500;
        setConn('open');
      };
      es.onerror = () => {
        if (done || stopped) return;
        if (es?.readyState === EventSource.CLOSED) {
          // the browser gave up (an HTTP error, say): reopen ourselves from the last id
          setConn('reconnecting');
          setReconnects((r) => r + 1);
          timer = window.setTimeout(open, backoff);
          backoff = Math.min(backoff * 2, 10_000);
        } else {
          setConn('reconnecting');
          setReconnects((r) => r + 1);
        }
      };
    };
    open();
    return () => {
      stopped = true;
      es?.close();
      if (frame) cancelAnimationFrame(frame);
      clearTimeout(timer);
    };
  }, [jobID]);

  return { state, conn, reconnects };
}
