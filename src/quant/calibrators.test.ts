// Entropy and MSE calibration on synthetic distributions whose answers are known in shape: the
// thresholds order as the methods' definitions say, MSE's threshold really minimises the squared
// quantization error of the data (measured on the samples, not on the histogram), and the fast KL
// evaluation equals the textbook one (TensorRT / pytorch-quantization) bin by bin.
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../tests/helpers/temp.ts';
import { calibrateEntropy, klForThreshold, klTables, levelsFor, mergeBins } from './entropy-calibrator.ts';
import { chooseThreshold } from './auto-calibrator.ts';
import { calibrateMse, expectedSquaredError, stepFor, type Grid } from './mse-calibrator.ts';
import { AbsHistogram, GrowingAbsHistogram, MinMaxCollector } from './range-collector.ts';

function sampler(seed: number) {
  const rand = seededRandom(seed);
  return {
    rand,
    gauss: () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()),
    laplace: () => {
      const u = rand() - 0.5;
      return -Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
    },
  };
}

/** The squared error of fake-quantizing every value with threshold t (symmetric int8, [-127, 127]). */
function quantizationMse(x: Float32Array, t: number): number {
  const s = t / 127;
  let e = 0;
  for (const v of x) {
    const q = Math.max(-127, Math.min(127, Math.round(v / s))) * s;
    e += (v - q) ** 2;
  }
  return e / x.length;
}

function histogramOf(x: Float32Array, bins = 8192): AbsHistogram {
  const mm = new MinMaxCollector();
  mm.add(x);
  const h = new AbsHistogram(mm.absMax, bins);
  h.add(x);
  return h;
}

const N = 100_000;
const s1 = sampler(11);
const gaussian = Float32Array.from({ length: N }, s1.gauss);
const s2 = sampler(12);
const laplaceOutliers = Float32Array.from({ length: N }, s2.laplace);
// 10 outliers at 40–60 (a few hundred times the Laplace scale), as LayerNorm outputs have.
for (let k = 0; k < 10; k++) laplaceOutliers[k * 9973] = (k % 2 ? -1 : 1) * (40 + 20 * s2.rand());
const s3 = sampler(13);
const relu = Float32Array.from({ length: N }, () => Math.max(0, s3.gauss()));

/** The textbook KL(P‖Q) of one candidate, written out as TensorRT's slides describe it. */
function naiveKl(hist: Float64Array, i: number, levels = 128): number {
  const p = Array.from(hist.subarray(0, i));
  p[i - 1]! += hist.subarray(i).reduce((a, b) => a + b, 0);
  const q = new Array<number>(i).fill(0);
  for (let c = 0; c < levels; c++) {
    const members = [];
    for (let b = 0; b < i; b++) if (Math.floor((b * levels) / i) === c && hist[b]! > 0) members.push(b);
    const mass = members.reduce((a, b) => a + hist[b]!, 0);
    for (const b of members) q[b] = mass / members.length;
  }
  const ps = p.reduce((a, b) => a + b, 0);
  const qs = q.reduce((a, b) => a + b, 0);
  let kl = 0;
  for (let b = 0; b < i; b++) {
    if (p[b] === 0) continue;
    if (q[b] === 0) return Infinity;
    kl += (p[b]! / ps) * Math.log(p[b]! / ps / (q[b]! / qs));
  }
  return kl;
}

describe('entropy (KL) calibration', () => {
  it('the prefix-sum KL equals the textbook definition for every candidate', () => {
    const h = histogramOf(laplaceOutliers, 2048);
    const hist = Float64Array.from(h.counts);
    hist[0] = hist[1]!;
    const tables = klTables(hist);
    for (const i of [128, 129, 200, 333, 512, 1000, 1500, 2047, 2048]) {
      const a = klForThreshold(tables, i);
      const b = naiveKl(hist, i);
      if (b === Infinity) expect(a).toBe(Infinity);
      else expect(a, `i=${i}`).toBeCloseTo(b, 9);
    }
  });

  it('P equal to Q (a flat histogram that needs no merging) has zero divergence', () => {
    const hist = new Float64Array(128).fill(5);
    expect(klForThreshold(klTables(hist), 128)).toBeCloseTo(0, 12);
  });

  it('mergeBins keeps the mass and only merges when finer than the target', () => {
    const c = Float64Array.from({ length: 8192 }, (_, i) => i % 7);
    const m = mergeBins(c, 2048);
    expect(m).toHaveLength(2048);
    expect(m.reduce((a, b) => a + b, 0)).toBe(c.reduce((a, b) => a + b, 0));
    expect(m[0]).toBe(0 + 1 + 2 + 3);
    expect(mergeBins(c.subarray(0, 1000), 2048)).toHaveLength(1000);
  });

  it('clips the outliers of a Laplacian far below its max, and a Gaussian only a little', () => {
    const lap = histogramOf(laplaceOutliers);
    const e = calibrateEntropy(lap);
    expect(e.threshold).toBeLessThan(lap.absMax / 3);
    expect(e.threshold).toBeGreaterThan(lap.percentile(99.9)); // keeps the body of the distribution
    const g = histogramOf(gaussian);
    const eg = calibrateEntropy(g);
    expect(eg.threshold).toBeLessThan(g.absMax);
    expect(eg.threshold).toBeGreaterThan(g.percentile(99.9));
  });

  it('the threshold is the end of a candidate bin range, ≥ 128 of 2048 bins', () => {
    const g = histogramOf(gaussian);
    const e = calibrateEntropy(g);
    expect(e.bin).toBeGreaterThanOrEqual(128);
    expect(e.threshold).toBeCloseTo((e.bin / 2048) * g.absMax, 12);
  });

  it('an all-zero tensor keeps its (zero) range', () => {
    const h = new AbsHistogram(0, 2048);
    h.add(new Float32Array(100));
    expect(calibrateEntropy(h).threshold).toBe(0);
  });
});

describe('MSE calibration', () => {
  it('the histogram estimate of the error matches the error measured on the samples', () => {
    for (const x of [gaussian, laplaceOutliers, relu]) {
      const h = histogramOf(x);
      for (const f of [0.3, 0.6, 1]) {
        const t = h.absMax * f;
        const measured = quantizationMse(x, t);
        expect(expectedSquaredError(h, t) / measured).toBeGreaterThan(0.97);
        expect(expectedSquaredError(h, t) / measured).toBeLessThan(1.03);
      }
    }
  });

  it.each([
    ['Gaussian', gaussian],
    ['Laplacian with outliers', laplaceOutliers],
    ['ReLU(Gaussian)', relu],
  ])('%s: the MSE threshold has less squared error on the data than min/max, percentile and entropy', (_name, x) => {
    const h = histogramOf(x);
    const mse = calibrateMse(h).threshold;
    const err = quantizationMse(x, mse);
    expect(err).toBeLessThanOrEqual(quantizationMse(x, h.absMax));
    expect(err).toBeLessThanOrEqual(quantizationMse(x, h.percentile(99.99)) * 1.01);
    expect(err).toBeLessThanOrEqual(quantizationMse(x, calibrateEntropy(h).threshold) * 1.01);
  });

  it('orders thresholds sensibly: Gaussian mse ≈ p99.99 < entropy < max; outliers make entropy and percentile clip hard', () => {
    const g = histogramOf(gaussian);
    const gm = calibrateMse(g).threshold;
    const ge = calibrateEntropy(g).threshold;
    // For int8 the MSE-optimal clip of a unit Gaussian is near 3.9σ (ACIQ), close to p99.99.
    expect(gm).toBeGreaterThan(3.4);
    expect(gm).toBeLessThan(4.3);
    expect(gm).toBeLessThan(g.absMax);
    expect(ge).toBeLessThan(g.absMax);
    expect(ge).toBeGreaterThan(g.percentile(99.9));

    const l = histogramOf(laplaceOutliers);
    const lm = calibrateMse(l).threshold;
    const le = calibrateEntropy(l).threshold;
    const lp = l.percentile(99.99);
    // Entropy and percentile ignore the 0.01% of outliers; MSE counts their squared clipping error
    // and keeps a wider range, still below the max.
    expect(le).toBeLessThan(lm);
    expect(lp).toBeLessThan(lm);
    expect(lm).toBeLessThanOrEqual(l.absMax);
  });

  it('never returns a threshold worse than min/max on its own histogram estimate', () => {
    const r = calibrateMse(histogramOf(relu));
    expect(r.error).toBeLessThanOrEqual(r.minmaxError);
  });
});

/** The squared error of uint8 asymmetric fake quantization over [max(min, −t), min(max, t)] ∪ {0}. */
function uint8Mse(x: Float32Array, t: number, grid: Extract<Grid, { type: 'uint8' }>): number {
  const lo = Math.min(0, Math.max(grid.min, -t));
  const hi = Math.max(0, Math.min(grid.max, t));
  const s = (hi - lo) / 255;
  const zp = Math.round(-lo / s);
  let e = 0;
  for (const v of x) {
    const q = (Math.max(0, Math.min(255, Math.round(v / s) + zp)) - zp) * s;
    e += (v - q) ** 2;
  }
  return e / x.length;
}

describe('grids of the zero point type (uint8 vs int8)', () => {
  const reluGrid: Grid = { type: 'uint8', min: 0, max: Math.max(...relu) };

  it('uint8 over a one-sided range has 255 steps: the error estimate matches uint8 fake quantization on the samples', () => {
    const h = histogramOf(relu);
    expect(stepFor(reluGrid, 2)).toBeCloseTo(2 / 255, 12);
    expect(stepFor({ type: 'int8' }, 2)).toBeCloseTo(2 / 127, 12);
    for (const f of [0.4, 0.7, 1]) {
      const t = h.absMax * f;
      const ratio = expectedSquaredError(h, t, reluGrid) / uint8Mse(relu, t, reluGrid);
      expect(ratio).toBeGreaterThan(0.97);
      expect(ratio).toBeLessThan(1.03);
    }
  });

  it("MSE with uint8's grid cuts a one-sided tensor less than int8's step would have it, and has less error in uint8", () => {
    const h = histogramOf(relu);
    const asUint8 = calibrateMse(h, { grid: reluGrid }).threshold;
    const asInt8 = calibrateMse(h).threshold;
    expect(asUint8).toBeGreaterThan(asInt8);
    expect(uint8Mse(relu, asUint8, reluGrid)).toBeLessThan(uint8Mse(relu, asInt8, reluGrid));
  });

  it('KL levels: 128 for int8 (TensorRT), 256 for a one-sided uint8 tensor, about 128 for a symmetric one', () => {
    expect(levelsFor({ type: 'int8' }, 3)).toBe(128);
    expect(levelsFor(reluGrid, 3)).toBe(256);
    expect(levelsFor({ type: 'uint8', min: -3, max: 3 }, 3)).toBe(129);
    // The scan starts where a candidate has as many bins as levels: no threshold under 256 bins for uint8 ReLU.
    expect(calibrateEntropy(histogramOf(relu), { grid: reluGrid }).bin).toBeGreaterThanOrEqual(256);
  });
});

describe('the bound on a cut: never below the consumer-error optimum (auto-calibrator.ts chooseThreshold)', () => {
  const hists = (h: AbsHistogram) => ({ plain: h, weighted: h });

  it("raises entropy's cut of the outliers to the threshold of least error, which it never goes below", () => {
    const h = histogramOf(laplaceOutliers);
    const kl = calibrateEntropy(h).threshold;
    const c = chooseThreshold('entropy', hists(h), h.absMax, { type: 'int8' }, { percentile: 99.99 });
    expect(c.raisedFrom).toBeCloseTo(kl, 12);
    expect(c.threshold).toBeCloseTo(calibrateMse(h).threshold, 12);
    expect(quantizationMse(laplaceOutliers, c.threshold)).toBeLessThan(quantizationMse(laplaceOutliers, kl));
  });

  it('leaves a cut above the optimum as the method chose it (percentile 99.999 of a Gaussian), and minmax at the whole range', () => {
    const g = histogramOf(gaussian);
    const p = chooseThreshold('percentile', hists(g), g.absMax, { type: 'int8' }, { percentile: 99.999 });
    expect(p.threshold).toBe(g.percentile(99.999));
    expect(p.threshold).toBeGreaterThan(calibrateMse(g).threshold);
    expect(p.raisedFrom).toBeUndefined();
    expect(chooseThreshold('minmax', hists(g), g.absMax, { type: 'int8' }, { percentile: 99.99 }).threshold).toBe(g.absMax);
  });

  it('auto takes the candidate of least error on the weighted histogram and reports every candidate', () => {
    const h = histogramOf(laplaceOutliers);
    const c = chooseThreshold('auto', hists(h), h.absMax, { type: 'int8' }, { percentile: 99.99 });
    const errors = Object.values(c.candidates!).map((x) => x.error);
    expect(c.candidates![c.method].error).toBe(Math.min(...errors));
    expect(c.threshold).toBe(c.candidates![c.method].threshold);
    expect(Object.keys(c.candidates!).sort()).toEqual(['entropy', 'minmax', 'mse', 'percentile']);
  });
});

describe('a histogram weighted per channel (the consumer-output error)', () => {
  it('each value counts at its channel weight, on the last axis and on axis 1 with an inner size', () => {
    // [2 rows, 3 channels]; weights 1, 2, 3.
    const w = Float64Array.of(1, 2, 3);
    const last = new GrowingAbsHistogram(4);
    last.add(Float32Array.of(1, 2, 3, 4, 5, 6), 6, { weights: w, inner: 1 });
    expect(last.total).toBe(12);
    const a = last.toHistogram();
    expect(a.counts.reduce((x, y) => x + y, 0)).toBeCloseTo(12, 12);
    // NCHW [1, 3, 2]: channel c's two values count w[c] each.
    const conv = new GrowingAbsHistogram(4);
    conv.add(Float32Array.of(1, 1, 2, 2, 3, 3), 3, { weights: w, inner: 2 });
    expect(conv.total).toBe(12);
    const b = conv.toHistogram();
    // Values 3 (channel 2, weight 3) sit in the top bin: 2 values × 3.
    expect(b.counts[3]).toBeCloseTo(6, 12);
  });
});
