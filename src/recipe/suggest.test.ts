import { describe, expect, it } from 'vitest';
import { didYouMean, editDistance } from './suggest.ts';

describe('editDistance', () => {
  it.each([
    ['', '', 0],
    ['abc', '', 3],
    ['', 'abc', 3],
    ['stpes', 'steps', 2],
    ['kitten', 'sitting', 3],
    ['qdq.insrt', 'qdq.insert', 1],
    ['flaw', 'lawn', 2],
  ])('%s ↔ %s = %i', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });
});

describe('didYouMean', () => {
  const keys = ['version', 'name', 'description', 'model', 'data', 'steps', 'gates'];

  it('suggests the closest candidate, ignoring case', () => {
    expect(didYouMean('stpes', keys)).toBe('steps');
    expect(didYouMean('Modle', keys)).toBe('model');
    expect(didYouMean('methd', ['method', 'percentile'])).toBe('method');
  });

  it('suggests nothing when every candidate is too far for the word’s length', () => {
    expect(didYouMean('zzzzzzzz', keys)).toBeUndefined();
    // Short words allow distance 2 only: "ab" → "name" is 3 edits away.
    expect(didYouMean('ab', ['name'])).toBeUndefined();
    expect(didYouMean('nm', ['name'])).toBe('name');
    expect(didYouMean('x', [])).toBeUndefined();
  });

  it('prefers the first of equally close candidates', () => {
    expect(didYouMean('dat', ['data', 'date'])).toBe('data');
  });
});
