// Streaming statistics must equal the one-shot ones, whatever the batching.
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../tests/helpers/temp.ts';
import { percentileOf } from './agreement.ts';
import { AbsHistogram, GrowingAbsHistogram, MinMaxCollector } from './range-collector.ts';

function gaussian(rand: () => number, n: number, sigma = 1): Float32Array {
  // Box–Muller; heavy enough tails to make high percentiles differ from the max.
  return Float32Array.from({ length: n }, () => sigma * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));
}

describe('MinMaxCollector', () => {
  it('streaming over uneven batches equals one pass over everything', () => {
    const rand = seededRandom(1);
    const all = gaussian(rand, 10_000, 3);
    const oneShot = new MinMaxCollector();
    oneShot.add(all);
    const streamed = new MinMaxCollector();
    for (const [a, b] of [[0, 1], [1, 777], [777, 777], [777, 5000], [5000, 10_000]] as const) streamed.add(all.subarray(a, b));
    expect([streamed.min, streamed.max, streamed.count]).toEqual([oneShot.min, oneShot.max, oneShot.count]);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of all) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    expect([oneShot.min, oneShot.max, oneShot.count]).toEqual([lo, hi, 10_000]);
    expect(oneShot.absMax).toBe(Math.max(-lo, hi));
  });

  it('absMax takes the larger side; an empty collector has no range', () => {
    const c = new MinMaxCollector();
    expect(c.count).toBe(0);
    c.add(Float32Array.of(-5, 2));
    expect(c.absMax).toBe(5);
    c.add(Float32Array.of(7));
    expect(c.absMax).toBe(7);
  });
});

describe('AbsHistogram', () => {
  it('percentile on random data is within one bin of the sorted-array percentile', () => {
    const rand = seededRandom(2);
    const values = gaussian(rand, 50_000, 2);
    const mm = new MinMaxCollector();
    mm.add(values);
    const bins = 2048;
    const h = new AbsHistogram(mm.absMax, bins);
    for (let i = 0; i < values.length; i += 4096) h.add(values.subarray(i, i + 4096));
    expect(h.total).toBe(values.length);
    const sorted = Array.from(values, Math.abs).sort((a, b) => a - b);
    const binWidth = mm.absMax / bins;
    for (const p of [50, 90, 99, 99.9, 99.99]) {
      const exact = percentileOf(sorted, p);
      const got = h.percentile(p);
      // The histogram answers with the upper edge of the bin holding the exact value.
      expect(got, `p${p}`).toBeGreaterThanOrEqual(exact);
      expect(got - exact, `p${p}`).toBeLessThanOrEqual(binWidth);
    }
    expect(h.percentile(100)).toBeCloseTo(mm.absMax, 12);
  });

  it('counts do not depend on batch order', () => {
    const rand = seededRandom(5);
    const a = gaussian(rand, 3000);
    const b = gaussian(rand, 3000);
    const absMax = Math.max(...Array.from(a, Math.abs), ...Array.from(b, Math.abs));
    const h1 = new AbsHistogram(absMax, 256);
    h1.add(a);
    h1.add(b);
    const h2 = new AbsHistogram(absMax, 256);
    h2.add(b);
    h2.add(a);
    expect(Array.from(h1.counts)).toEqual(Array.from(h2.counts));
  });

  it('puts |x| == absMax in the last bin and counts negatives by magnitude', () => {
    const h = new AbsHistogram(4, 4);
    h.add(Float32Array.of(-4, 4, 0, 0.5, -1.5, 2.9));
    expect(Array.from(h.counts)).toEqual([2, 1, 1, 2]);
    expect(h.percentile(50)).toBe(2); // 3 of 6 values fall in the first two bins: upper edge 2
    expect(h.percentile(100)).toBe(4);
  });

  it('a zero range (all zeros) reports 0 and an empty histogram reports absMax', () => {
    const zero = new AbsHistogram(0, 16);
    zero.add(new Float32Array(10));
    expect(zero.total).toBe(10);
    expect(zero.percentile(99.99)).toBe(0);
    expect(new AbsHistogram(3, 16).percentile(50)).toBe(3);
  });
});

describe('GrowingAbsHistogram (one pass, range found on the way)', () => {
  /** Batches whose spread grows, so the histogram has to widen several times. */
  function growingBatches(seed: number): Float32Array[] {
    const rand = seededRandom(seed);
    return [0.01, 0.5, 0.2, 3, 1, 40, 2].map((sigma, k) => gaussian(rand, 3000 + 700 * k, sigma));
  }

  it('keeps every count and answers percentiles as the two-pass histogram does, within one of its bins', () => {
    const batches = growingBatches(8);
    const mm = new MinMaxCollector();
    for (const b of batches) mm.add(b);
    const bins = 2048;
    const twoPass = new AbsHistogram(mm.absMax, bins);
    const grown = new GrowingAbsHistogram(bins);
    for (const b of batches) {
      twoPass.add(b);
      grown.add(b);
    }
    const h = grown.toHistogram();
    expect(h.absMax).toBe(mm.absMax);
    expect(h.counts).toHaveLength(bins);
    expect(h.total).toBe(twoPass.total);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBeCloseTo(twoPass.total, 6);
    const width = mm.absMax / bins;
    for (const p of [50, 90, 99, 99.9, 99.99, 100]) expect(Math.abs(h.percentile(p) - twoPass.percentile(p)), `p${p}`).toBeLessThanOrEqual(2 * width);
  });

  it('is deterministic, and a batch max given by MinMaxCollector gives the same counts as one it computes', () => {
    const batches = growingBatches(9);
    const a = new GrowingAbsHistogram(512);
    const b = new GrowingAbsHistogram(512);
    const c = new GrowingAbsHistogram(512);
    const mm = new MinMaxCollector();
    for (const x of batches) {
      a.add(x);
      b.add(x);
      c.add(x, mm.add(x));
    }
    expect(Array.from(a.toHistogram().counts)).toEqual(Array.from(b.toHistogram().counts));
    expect(Array.from(c.toHistogram().counts)).toEqual(Array.from(a.toHistogram().counts));
  });

  it('all zeros, then a range; ±Inf counted in the last bin and NaN ignored by the range', () => {
    const h = new GrowingAbsHistogram(16);
    h.add(new Float32Array(10));
    expect(h.toHistogram().percentile(99)).toBe(0);
    h.add(Float32Array.of(1, -2, Infinity, NaN));
    const out = h.toHistogram();
    expect(out.absMax).toBe(2);
    expect(out.total).toBe(14);
    expect(out.counts[0]).toBeGreaterThanOrEqual(10); // the zeros stay in the first bin
    expect(out.counts[15]).toBeGreaterThanOrEqual(2); // 2 and +Inf
  });

  it('MinMaxCollector.add returns the batch’s largest finite |x|, skipping NaN as before', () => {
    const c = new MinMaxCollector();
    expect(c.add(Float32Array.of(-3, NaN, 2))).toBe(3);
    expect([c.min, c.max]).toEqual([-3, 2]);
    expect(c.add(Float32Array.of(Infinity, 1))).toBe(1);
    expect(c.max).toBe(Infinity);
  });
});
