import { describe, expect, it } from 'vitest';
import { blockBootstrapInterval, bootstrapInterval, geometricMean, median, medianInterval, quantileSorted, seededUniform } from './bootstrap.ts';
import { formatWithInterval, shiftBeyondNoise } from './noise.ts';

/** n draws from an exponential distribution of rate 1 (median ln 2), by inversion. */
function exponential(n: number, seed: number, scale = 1, shift = 0): number[] {
  const u = seededUniform(seed);
  return Array.from({ length: n }, () => shift - scale * Math.log(1 - u()));
}

describe('bootstrap statistics', () => {
  it('median and quantiles interpolate between order statistics (R type 7)', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(quantileSorted([10, 20, 30, 40, 50], 0.25)).toBe(20);
    expect(quantileSorted([10, 20], 0.9)).toBeCloseTo(19);
    expect(geometricMean([2, 0.5])).toBeCloseTo(1);
  });

  it('the 95% interval of the median covers the true median in about 95% of data sets from a known distribution', () => {
    const trueMedian = Math.LN2;
    const sets = 300;
    let covered = 0;
    let width = 0;
    for (let s = 0; s < sets; s++) {
      const ci = medianInterval(exponential(25, 1000 + s), { resamples: 2000 });
      if (ci.low <= trueMedian && trueMedian <= ci.high) covered++;
      width += ci.high - ci.low;
    }
    // Binomial(300, 0.95) lies in [0.91, 0.99] with probability > 99.9%; an interval that always
    // covers (too wide to be useful) or a broken resampler (coverage far below) both fail.
    expect(covered / sets).toBeGreaterThanOrEqual(0.9);
    expect(covered / sets).toBeLessThanOrEqual(0.99);
    // And it is not vacuously wide: the median of 25 exponential draws has a standard error of ~0.2.
    expect(width / sets).toBeLessThan(1.2);
    expect(width / sets).toBeGreaterThan(0.2);
  });

  it('is deterministic: the same samples give the same interval', () => {
    const x = exponential(15, 7);
    expect(medianInterval(x)).toEqual(medianInterval([...x]));
    expect(medianInterval(x, { seed: 1 })).not.toEqual(medianInterval(x, { seed: 2 }));
  });

  it('identical samples give a zero-width interval at their value', () => {
    expect(medianInterval([0.63, 0.63, 0.63, 0.63, 0.63])).toEqual({ low: 0.63, high: 0.63, confidence: 0.95 });
  });

  it('resamples each group separately', () => {
    // Group 0 is constant, so only group 1's spread can widen the interval of their sum.
    const ci = bootstrapInterval([[1, 1, 1], [0, 10]], ([a, b]) => median(a!) + median(b!));
    expect(ci.low).toBe(1);
    expect(ci.high).toBe(11);
  });

  it('the block bootstrap resamples whole blocks', () => {
    const blocks = [[1, 2], [3, 4], [5, 6]];
    const seen: number[][] = [];
    blockBootstrapInterval([blocks], ([pooled]) => (seen.push([...pooled!]), median(pooled!)), { resamples: 200 });
    for (const pooled of seen) {
      expect(pooled).toHaveLength(6);
      for (const [a, b] of blocks) expect(pooled.filter((x) => x === a).length).toBe(pooled.filter((x) => x === b).length);
    }
    expect(new Set(seen.map((p) => p.join())).size).toBeGreaterThan(5);
  });

  it('detects a clearly shifted distribution, and calls two samples of one distribution within noise', () => {
    const before = exponential(20, 11);
    const same = exponential(20, 12);
    const shifted = exponential(20, 13, 1, 1.5);
    const est = (x: number[]) => ({ value: median(x), interval: medianInterval(x) });
    expect(shiftBeyondNoise(est(before), est(same), 0.2)).toMatchObject({ direction: 'within noise', noiseEstimate: true });
    expect(shiftBeyondNoise(est(before), est(shifted), 0.2)).toMatchObject({ direction: 'higher', noiseEstimate: true });
    expect(shiftBeyondNoise(est(shifted), est(before), 0.2)).toMatchObject({ direction: 'lower', noiseEstimate: true });
  });

  it('without intervals, falls back to the tolerance and says there is no noise estimate', () => {
    expect(shiftBeyondNoise({ value: 0.5 }, { value: 0.55 }, 0.2)).toEqual({ relative: 1.1, direction: 'within noise', noiseEstimate: false });
    expect(shiftBeyondNoise({ value: 0.5 }, { value: 0.7 }, 0.2)).toMatchObject({ direction: 'higher', noiseEstimate: false });
    expect(shiftBeyondNoise({ value: 0.5, interval: { low: 0.4, high: 0.6 } }, { value: 0.7 }, 0.2).noiseEstimate).toBe(false);
    expect(formatWithInterval({ value: 0.634, interval: { low: 0.58, high: 0.6912 } })).toBe('0.63× [0.58–0.69]');
    expect(formatWithInterval({ value: 0.634 })).toBe('0.63× (no noise estimate)');
  });
});
