import { describe, expect, it } from 'vitest';
import { AbsHistogram, GrowingAbsHistogram } from '../../src/quant/range-collector.ts';
import { fractionBeyond } from './saturation.ts';

describe('fractionBeyond: the share of calibration values a threshold saturates', () => {
  it('counts the values beyond the threshold, not the share of the range cut', () => {
    // 9 999 values spread over [0, 1) and one outlier at 10: a threshold at 1 cuts 90% of the
    // range (1 − 1/10) but saturates 1 value in 10 000.
    const values = Float32Array.from({ length: 10_000 }, (_, i) => (i === 9_999 ? 10 : (i % 1000) / 1000));
    const g = new GrowingAbsHistogram(2048);
    g.add(values);
    const h = g.toHistogram();
    expect(fractionBeyond(h, 1.01)).toBeCloseTo(1 / 10_000, 6);
    expect(1 - 1.01 / 10).toBeCloseTo(0.899, 3);
  });

  it('a threshold inside a bin counts the part of the bin above it; none at or past the max; all at 0', () => {
    const h = new AbsHistogram(4, 4, Float64Array.from([10, 10, 10, 10]), 40);
    expect(fractionBeyond(h, 2)).toBe(0.5);
    expect(fractionBeyond(h, 2.5)).toBeCloseTo(15 / 40, 12);
    expect(fractionBeyond(h, 4)).toBe(0);
    expect(fractionBeyond(h, 9)).toBe(0);
    expect(fractionBeyond(h, 0)).toBe(1);
    expect(fractionBeyond(new AbsHistogram(0, 4), 0)).toBe(0);
  });
});
