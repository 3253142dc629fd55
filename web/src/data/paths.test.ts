import { describe, expect, it } from 'vitest';
import { artifactRef, displayRef, scrub, stripPaths } from './paths';

describe('blob references', () => {
  it('names a stored artifact by node and output (as eval.DisplayPath), with its run', () => {
    const cases: [string, ReturnType<typeof artifactRef>][] = [
      ['blob:jobs/job_01/tune/model/', { label: 'tune/model', job: 'job_01' }],
      ['blob:jobs/job_01/tune/model/history.json', { label: 'tune/model/history.json', job: 'job_01' }],
      ['blob:jobs/job_01/prep/dataset/validation.jsonl', { label: 'prep/dataset/validation.jsonl', job: 'job_01' }],
      ['blob:datasets/ds_01/chat.jsonl', { label: 'chat.jsonl' }],
      ['/srv/models/stories260K', null],
      ['mdl_01ab', null],
      ['https://example.com/blob:x', null],
    ];
    for (const [in_, want] of cases) expect(artifactRef(in_), in_).toEqual(want);
    expect(displayRef('blob:jobs/j/tune/model/')).toBe('tune/model');
    expect(displayRef('stories260K')).toBe('stories260K');
  });

  it('never shows one raw: in texts and deep in metadata', () => {
    expect(stripPaths('could not read blob:jobs/j/tune/model/adapter.safetensors: eof')).toBe('could not read tune/model/adapter.safetensors: eof');
    expect(scrub({ eval: { model: 'blob:jobs/j/tune/model/', sets: ['blob:jobs/j/prep/dataset/validation.jsonl', '/srv/x/test.jsonl'] } })).toEqual({
      eval: { model: 'tune/model', sets: ['prep/dataset/validation.jsonl', 'test.jsonl'] },
    });
  });
});
