// The agreement of generated tokens on hand-made sequences: a prompt counts the positions equal
// before the first difference (what follows a divergence continues another text), over the first n.
import { describe, expect, it } from 'vitest';
import { promptAgreement, setAgreement } from './agreement.ts';

describe('promptAgreement', () => {
  it('counts the equal prefix over the first n tokens, not equal positions after a divergence', () => {
    // Equal, then one difference, then equal again: only the 2 before the difference count.
    expect(promptAgreement([5, 6, 7, 8, 9], [5, 6, 1, 8, 9], 5)).toEqual({ firstDivergence: 2, prefix: 0.4, exact: false });
    expect(promptAgreement([5, 6, 7, 8, 9], [5, 6, 7, 8, 9], 5)).toEqual({ firstDivergence: 5, prefix: 1, exact: true });
    // Only the first n are compared: a difference at position n is beyond them.
    expect(promptAgreement([5, 6, 7, 8], [5, 6, 7, 0], 3)).toEqual({ firstDivergence: 3, prefix: 1, exact: true });
    expect(promptAgreement([1, 2], [3, 2], 2)).toEqual({ firstDivergence: 0, prefix: 0, exact: false });
  });

  it('a continuation that stops early differs where it stops, unless both stop there', () => {
    expect(promptAgreement([1, 2, 3, 4], [1, 2], 4).firstDivergence).toBe(2);
    expect(promptAgreement([1, 2, 0], [1, 2, 0], 4)).toEqual({ firstDivergence: 4, prefix: 1, exact: true });
  });
});

describe('setAgreement', () => {
  it('is the mean prefix share and the share of exact matches', () => {
    const fp32 = [
      [1, 2, 3, 4],
      [1, 2, 3, 4],
      [9, 9, 9, 9],
      [7, 7, 7, 7],
    ];
    const int8 = [
      [1, 2, 3, 4], // 4/4
      [1, 2, 0, 4], // 2/4
      [0, 9, 9, 9], // 0/4
      [7, 7, 7, 0], // 3/4
    ];
    const a = setAgreement(fp32, int8, 4);
    expect(a.tokenAgreement).toBeCloseTo((1 + 0.5 + 0 + 0.75) / 4, 12);
    expect(a.exactMatch).toBe(0.25);
    expect(a.firstDivergence).toEqual([4, 2, 0, 3]);
  });
});
