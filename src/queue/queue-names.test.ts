import { describe, expect, it } from 'vitest';
import { queueNameFor, queuesForWorker } from './queue-names.ts';

describe('queues by tag set', () => {
  it('a step goes to the queue of its exact tag set, in any order', () => {
    expect(queueNameFor([])).toBe('qrun');
    expect(queueNameFor(['trtexec', 'gpu'])).toBe('qrun-gpu+trtexec');
    expect(queueNameFor(['gpu', 'trtexec'])).toBe(queueNameFor(['trtexec', 'gpu', 'gpu']));
  });

  it('a worker serves every subset of its tags, and no queue that needs a tag it lacks', () => {
    expect(queuesForWorker([])).toEqual(['qrun']);
    expect(queuesForWorker(['trtexec', 'gpu']).sort()).toEqual(['qrun', 'qrun-gpu', 'qrun-gpu+trtexec', 'qrun-trtexec']);
    expect(queuesForWorker(['gpu'])).not.toContain(queueNameFor(['gpu', 'trtexec']));
  });
});
