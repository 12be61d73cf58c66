// The pipeline's span choice: context tokens only, start ≤ end, at most maxAnswerTokens long, the
// highest p_start·p_end; the text widened to whole words.
import { describe, expect, it } from 'vitest';
import { bestSpan, spanText } from './spans.ts';

// [CLS] q q [SEP] c0 c1 c2 c3 [SEP]
const base = { contextStart: 4, contextLength: 4, maxAnswerTokens: 30 };

describe('answer span choice', () => {
  it('never answers from the question, [CLS] or [SEP], however high their logits', () => {
    const start = [9, 9, 9, 9, 0, 2, 0, 0, 9];
    const end = [9, 9, 9, 9, 0, 0, 3, 0, 9];
    const s = bestSpan({ ...base, start, end }, 9);
    expect([s.start, s.end]).toEqual([5, 6]);
  });

  it('never ends before it starts', () => {
    // The best start is after the best end: the valid pair with the highest product wins.
    const start = [0, 0, 0, 0, 0, 0, 5, 0, 0];
    const end = [0, 0, 0, 0, 0, 4, 0, 1, 0];
    const s = bestSpan({ ...base, start, end }, 9);
    expect([s.start, s.end]).toEqual([6, 7]);
  });

  it('keeps within maxAnswerTokens', () => {
    const start = [0, 0, 0, 0, 5, 0, 0, 0, 0];
    const end = [0, 0, 0, 0, 0, 0, 0, 5, 0];
    expect(bestSpan({ ...base, start, end }, 9)).toMatchObject({ start: 4, end: 7 });
    const s = bestSpan({ ...base, maxAnswerTokens: 2, start, end }, 9);
    expect(s.end - s.start + 1).toBeLessThanOrEqual(2);
  });

  it('scores as the pipeline does: softmax with [CLS] in, then [CLS] zeroed', () => {
    const start = [0, -1e4, -1e4, -1e4, 1, 0, -1e4, -1e4, -1e4];
    const end = [0, -1e4, -1e4, -1e4, 1, 0, -1e4, -1e4, -1e4];
    const s = bestSpan({ ...base, contextLength: 2, start, end }, 9);
    // p(c0) = e / (1 + e + 1) over [CLS], c0, c1 (the rest is −10000).
    const p = Math.E / (2 + Math.E);
    expect(s.score).toBeCloseTo(p * p, 12);
  });

  it('widens the text to whole words', () => {
    const context = 'select non-matching lines';
    // tokens: select | non | - | match | ##ing | lines, words 0 1 2 3 3 4
    const offsets: [number, number][] = [[0, 6], [7, 10], [10, 11], [11, 16], [16, 19], [20, 25]];
    const words = [0, 1, 2, 3, 3, 4];
    const span = { start: 10 + 4, end: 10 + 4, score: 1 }; // "##ing" alone
    expect(spanText(span, 10, offsets, context, words).text).toBe('matching');
    expect(spanText(span, 10, offsets, context).text).toBe('ing');
  });
});
