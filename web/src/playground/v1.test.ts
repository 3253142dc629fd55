import { describe, expect, it } from 'vitest';
import { parseSSE } from './v1';

describe('parseSSE', () => {
  it('splits complete events and keeps the partial rest', () => {
    const { events, rest } = parseSSE('data: {"a":1}\n\ndata: [DONE]\n\ndata: {"b"');
    expect(events).toEqual(['{"a":1}', '[DONE]']);
    expect(rest).toBe('data: {"b"');
  });
  it('joins multi-line data and ignores comments', () => {
    const { events } = parseSSE(': ping\ndata: x\ndata: y\n\n');
    expect(events).toEqual(['x\ny']);
  });
});
