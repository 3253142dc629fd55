import { describe, expect, it } from 'vitest';
import { applyEvents, emptyStream, type RawEvent } from './stream';

const log = (id: number, msg: string): RawEvent => ({ id: String(id), type: 'log', data: JSON.stringify({ node: 'n', level: 'INFO', msg }) });

describe('applyEvents', () => {
  it('writes node lifecycle lines: failures as errors with the message, cancels as warnings', () => {
    const s = applyEvents(emptyStream(), [
      { id: '1', type: 'node', data: JSON.stringify({ node: 'train', status: 'running', attempt: 1 }) },
      { id: '2', type: 'node', data: JSON.stringify({ node: 'train', status: 'failed', error: 'out of memory' }) },
      { id: '3', type: 'node', data: JSON.stringify({ node: 'eval', status: 'cancelled', error: 'cancelled: node train failed' }) },
    ]);
    expect(s.logs.map((l) => [l.level, l.msg])).toEqual([
      ['info', 'node train started'],
      ['error', 'node train failed: out of memory'],
      ['warn', 'node eval cancelled: cancelled: node train failed'],
    ]);
    expect(s.nodeStatus).toEqual({ train: 'failed', eval: 'cancelled' });
  });

  it('drops replayed events so a reconnect never duplicates a line', () => {
    let s = applyEvents(emptyStream(), [log(1, 'a'), log(2, 'b'), log(3, 'c')]);
    // the server replays from Last-Event-ID (inclusive here, to be safe)
    s = applyEvents(s, [log(3, 'c'), log(4, 'd')]);
    s = applyEvents(s, [log(2, 'b'), log(3, 'c'), log(4, 'd'), log(5, 'e')]);
    expect(s.logs.map((l) => l.msg)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(s.logs.map((l) => l.id)).toEqual([1, 2, 3, 4, 5]);
    expect(s.dropped).toBe(4);
    expect(s.lastId).toBe(5);
    expect(s.logs[0].level).toBe('info');
  });

  it('tracks progress, metrics, node and job status', () => {
    const s = applyEvents(emptyStream(), [
      { id: '1', type: 'node', data: '{"node":"train","status":"running"}' },
      { id: '2', type: 'progress', data: '{"node":"train","fraction":0.25,"eta_seconds":30,"message":"step 10/40"}' },
      { id: '3', type: 'metric', data: '{"node":"train","step":10,"values":{"loss":2.5,"learning_rate":0.001}}' },
      { id: '4', type: 'metric', data: '{"node":"train","step":20,"values":{"loss":2.1,"learning_rate":0.0009}}' },
      { id: '5', type: 'node', data: '{"node":"train","status":"succeeded"}' },
      { id: '6', type: 'status', data: '{"status":"succeeded"}' },
    ]);
    expect(s.nodeStatus).toEqual({ train: 'succeeded' });
    expect(s.progress.train).toEqual({ fraction: 1, eta: 0, message: 'step 10/40' });
    expect(s.metrics.train.loss).toEqual([
      [10, 2.5],
      [20, 2.1],
    ]);
    expect(s.metrics.train.learning_rate).toHaveLength(2);
    expect(s.status).toBe('succeeded');
    expect(s.done).toBe(true);
  });

  it('reads whet serve event envelopes', () => {
    const env = (seq: number, type: string, node: string, data: unknown): RawEvent => ({
      id: String(seq),
      type,
      data: JSON.stringify({ job_id: 'j', seq, type, node, time: '2026-11-26T14:00:00Z', data }),
    });
    const s = applyEvents(emptyStream(), [
      env(1, 'status', '', { status: 'running' }),
      env(2, 'node', 'data', { status: 'running', attempt: 1 }),
      env(3, 'log', 'data', { level: 'INFO', msg: 'loading dataset', attrs: { rows: 3 } }),
      env(4, 'progress', 'data', { fraction: 0.5, eta_s: 2, message: 'half' }),
      env(5, 'metric', 'train', { step: 1, values: { loss: 1.5, grad_norm: null } }),
    ]);
    expect(s.status).toBe('running');
    expect(s.nodeStatus).toEqual({ data: 'running' });
    // node lifecycle events are log lines too, between the engine's lines
    expect(s.logs.filter((l) => !l.lifecycle)).toEqual([{ id: 3, node: 'data', level: 'info', msg: 'loading dataset', time: '2026-11-26T14:00:00Z', attrs: { rows: 3 } }]);
    expect(s.logs.filter((l) => l.lifecycle).map((l) => l.msg)[0]).toBe('node data started');
    expect(s.progress.data).toEqual({ fraction: 0.5, eta: 2, message: 'half' });
    expect(s.metrics.train).toEqual({ loss: [[1, 1.5]] });
  });

  it('returns the same state for an empty batch', () => {
    const s = emptyStream();
    expect(applyEvents(s, [])).toBe(s);
  });
});
