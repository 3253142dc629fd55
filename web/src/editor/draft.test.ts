import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentSpec } from '../api';
import { DRAFT_KEY, loadDraft, saveDraft } from './draft';
import type { Graph } from './pipeline';

const evaluate: AgentSpec = {
  name: 'evaluate',
  description: '',
  params: [
    { name: 'judge_url', type: 'string', kind: 'url' },
    { name: 'judge_key', type: 'string', kind: 'secret' },
    { name: 'auth', type: 'object', fields: [{ name: 'token', type: 'string', kind: 'secret' }, { name: 'user', type: 'string' }] },
  ],
  inputs: [],
  outputs: [],
  gpu: false,
};

const graph = (): Graph => ({
  name: 'p',
  nodes: [
    {
      id: 'eval',
      agent: 'evaluate',
      params: { judge_url: 'https://judge.example/v1', judge_key: 'sk-live-123', auth: { token: 'tok-9', user: 'ann' } },
      position: { x: 0, y: 0 },
    },
  ],
  edges: [],
});

describe('draft', () => {
  beforeEach(() => localStorage.clear());

  it('never writes a secret param to localStorage', () => {
    saveDraft(graph(), new Map([['evaluate', evaluate]]));
    const raw = localStorage.getItem(DRAFT_KEY)!;
    expect(raw).not.toContain('sk-live-123');
    expect(raw).not.toContain('tok-9');
    expect(JSON.parse(raw).nodes[0].params).toEqual({ judge_url: 'https://judge.example/v1', auth: { user: 'ann' } });
  });

  it('redacts by name while agent specs are unknown', () => {
    saveDraft(graph());
    const raw = localStorage.getItem(DRAFT_KEY)!;
    expect(raw).not.toContain('sk-live-123');
    expect(raw).not.toContain('tok-9');
    expect(raw).toContain('https://judge.example/v1');
  });

  it('drops secrets from a draft saved before redaction', () => {
    localStorage.setItem(DRAFT_KEY, JSON.stringify(graph()));
    const g = loadDraft();
    expect(g.nodes[0].params).toEqual({ judge_url: 'https://judge.example/v1', auth: { user: 'ann' } });
  });
});
