// SQuAD's normalisation, exact match and token F1 (evaluate-v1.1.py), on cases worked by hand.
import { describe, expect, it } from 'vitest';
import { bestOver, exactMatch, f1Score, normalizeAnswer } from './squad.ts';

describe("SQuAD's answer comparison", () => {
  it('normalises case, punctuation, articles and whitespace', () => {
    expect(normalizeAnswer('The  Cat, sat!')).toBe('cat sat');
    expect(normalizeAnswer('an apple a day')).toBe('apple day');
    // "a" inside a word stays; punctuation goes before articles are matched ("the-end" → "theend").
    expect(normalizeAnswer('banana the-end')).toBe('banana theend');
    expect(normalizeAnswer('--invert-match')).toBe('invertmatch');
  });

  it('exact match is equality after normalisation', () => {
    expect(exactMatch('The Eiffel Tower.', 'eiffel tower')).toBe(1);
    expect(exactMatch('Eiffel', 'eiffel tower')).toBe(0);
  });

  it('F1 is over the multiset of tokens', () => {
    // prediction {p, q, r}, gold {o, p, q}: 2 common, P = R = 2/3.
    expect(f1Score('p q r', 'o p q')).toBeCloseTo(2 / 3, 12);
    // Articles are not tokens: "a b c" is {b, c}, so P = 2/3, R = 1.
    expect(f1Score('b c d', 'a b c')).toBeCloseTo(0.8, 12);
    // Repeats count once per occurrence: prediction {x, x, y}, gold {x, y, z}: common x, y → P = R = 2/3.
    expect(f1Score('x x y', 'x y z')).toBeCloseTo(2 / 3, 12);
    // P = 1/1, R = 1/4 → 2·1·0.25/1.25 = 0.4.
    expect(f1Score('lines', 'select non matching lines')).toBeCloseTo(0.4, 12);
    expect(f1Score('nothing', 'else')).toBe(0);
    expect(f1Score('', 'else')).toBe(0);
  });

  it('takes the best over several gold answers', () => {
    expect(bestOver(f1Score, 'b c', ['a', 'b c'])).toBe(1);
  });
});
