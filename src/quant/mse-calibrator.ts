// MSE calibration: the threshold T minimising the expected squared error of symmetric int8
// quantization, x̂ = clamp(round(x / Δ), -127, 127) · Δ with Δ = T / 127, over the |x| histogram:
// rounding error for |x| ≤ T and clipping error (|x| − T)² beyond it. Values are taken as uniform
// within each histogram bin, and the rounding error over a bin is integrated exactly (no aliasing
// between bin centres and the quantization grid, which a centre-point estimate suffers from when a
// step spans only a few bins). ACIQ (Banner et al., 2019, https://arxiv.org/abs/1810.05723) derives
// the same trade-off analytically for Gaussian and Laplace densities.
//
// The grid follows the zero point's type (`Grid`): int8 is symmetric, step T / 127; uint8 spans the
// observed [min, max] cut to [−T, T] (and holding 0, so zero padding stays exact) in 255 steps, so a
// one-sided tensor (a Relu or Softmax output, GELU's above −0.17) gets twice int8's resolution. Both
// grids hold 0 (uint8's zero point is an integer), so the rounding error over |x| is the same integral
// with that step, and clipping happens at |x| > T on either side. Taking int8's step for a uint8
// tensor overstates its rounding error four times and cuts its range further than its best.
import { mergeBins } from './entropy-calibrator.ts';
import type { AbsHistogram } from './range-collector.ts';
import { INT8_MAX } from './scale-math.ts';

/** The quantization grid a threshold T gives a tensor. */
export type Grid = { type: 'int8' } | { type: 'uint8'; min: number; max: number };

export const INT8_GRID: Grid = { type: 'int8' };

/** The grid's step for threshold t (see the header). */
export function stepFor(grid: Grid, t: number): number {
  if (grid.type === 'int8') return t / INT8_MAX;
  const lo = Math.min(0, Math.max(grid.min, -t));
  const hi = Math.max(0, Math.min(grid.max, t));
  return hi - lo > 0 ? (hi - lo) / 255 : t / 255;
}

/** The histogram is merged down to this many bins first: exact integration needs no finer. */
export const MSE_BINS = 2048;

type Hist = Pick<AbsHistogram, 'counts' | 'absMax' | 'total'>;

/** ∫₀ᵘ (t − round(t))² dt, for u ≥ 0 in units of one quantization step. */
function roundingErrorIntegral(u: number): number {
  const whole = Math.floor(u);
  const f = u - whole;
  const partial = f <= 0.5 ? (f * f * f) / 3 : 1 / 24 + ((f - 1) ** 3 + 0.125) / 3;
  return whole / 12 + partial;
}

/**
 * Expected squared error per value when the histogram's values are quantized with threshold t.
 * Values are uniform within each bin of [a, b): the rounding error over [a, min(b, t)] is
 * step³·(R(min(b, t)/step) − R(a/step)) with R = roundingErrorIntegral, the clipping error beyond t is
 * ((b − t)³ − (max(a, t) − t)³) / 3, and their sum divided by (b − a) is the bin's mean. A bin below
 * t starts where the previous one ended, at the same number (b · width), so R there is the previous
 * bin's upper R, reused (and beyond t its (e − t)³): half the evaluations, the same arithmetic in the same order (the result
 * is bit-identical to evaluating both ends; the calibrate-mse scan calls this 161 times per tensor).
 */
export function expectedSquaredError(h: Hist, t: number, grid: Grid = INT8_GRID): number {
  if (h.total === 0 || h.absMax <= 0) return 0;
  const counts = h.counts;
  const bins = counts.length;
  const width = h.absMax / bins;
  const step = stepFor(grid, t);
  const step3 = step * step * step;
  let sum = 0;
  // R at the upper edge of the last bin computed whose upper edge was ≤ t, and that edge's index.
  let edge = -1;
  let edgeR = 0;
  let clipEdge = -1;
  let clipPow = 0;
  for (let b = 0; b < bins; b++) {
    const c = counts[b]!;
    if (c === 0) continue;
    const a = b * width;
    const e = (b + 1) * width;
    let total = 0;
    const lo = Math.min(a, t);
    const hi = Math.min(e, t);
    if (hi > lo) {
      const rLo = edge === b ? edgeR : roundingErrorIntegral(lo / step);
      const rHi = roundingErrorIntegral(hi / step);
      total += step3 * (rHi - rLo);
      edge = b + 1;
      edgeR = rHi; // when hi = t < e, the next bin lies beyond t and never reads it
    }
    const clo = Math.max(a, t);
    if (e > clo) {
      // Beyond t, (clo − t)³ is the previous bin's (e − t)³ (the same numbers), reused too.
      const cLo = clipEdge === b && clo === a ? clipPow : (clo - t) ** 3;
      const cHi = (e - t) ** 3;
      total += (cHi - cLo) / 3;
      clipEdge = b + 1;
      clipPow = cHi;
    }
    sum += c * (total / (e - a));
  }
  return sum / h.total;
}

/**
 * Whether the clipping error alone of the bins wholly beyond t exceeds `limit` (an expected squared
 * error per value) by a margin far above rounding: then t's full error (rounding and the straddling
 * bin only add to it) is certainly above `limit`, and the scan skips t without changing its result.
 * Summed from the top bin down, where a low threshold's clipping error is largest, and stopped as
 * soon as it is over: low thresholds, whose clipping error is many times min/max's error, cost a few
 * bins instead of all of them. Each term is the one expectedSquaredError adds for that bin; only the
 * order of the sum differs (relative error ≤ 2048 ε ≈ 5e-13, against a margin of 1e-9).
 */
function clippingExceeds(h: Hist, t: number, limit: number): boolean {
  const counts = h.counts;
  const bins = counts.length;
  const width = h.absMax / bins;
  const bound = limit * h.total * (1 + 1e-9);
  let acc = 0;
  let upper = Infinity; // (e − t)³ of the bin above, reused as this bin's upper cube
  let upperEdge = -1;
  for (let b = bins - 1; b >= 0; b--) {
    const a = b * width;
    if (a < t) return false;
    const c = counts[b]!;
    if (c === 0) continue;
    const e = (b + 1) * width;
    const cHi = upperEdge === b + 1 ? upper : (e - t) ** 3;
    const cLo = (a - t) ** 3;
    upper = cLo;
    upperEdge = b;
    acc += c * ((cHi - cLo) / 3 / (e - a));
    if (acc > bound) return true;
  }
  return false;
}

export interface MseResult {
  threshold: number;
  error: number;
  /** The error of the min/max threshold (t = absMax), for the report. */
  minmaxError: number;
}

/**
 * Scans `candidates` thresholds evenly spaced over (0, absMax] (the last is absMax itself, so the
 * result is never worse than min/max on the histogram), then refines around the best one.
 */
export function calibrateMse(full: Hist, opts: { candidates?: number; grid?: Grid; bins?: number } = {}): MseResult {
  const grid = opts.grid ?? INT8_GRID;
  const h: Hist = { counts: mergeBins(full.counts, opts.bins ?? MSE_BINS), absMax: full.absMax, total: full.total };
  const minmaxError = expectedSquaredError(h, h.absMax, grid);
  if (h.total === 0 || h.absMax <= 0) return { threshold: h.absMax, error: 0, minmaxError };
  const n = opts.candidates ?? 128;
  let best = h.absMax;
  let bestErr = minmaxError;
  const scan = (from: number, to: number, count: number) => {
    for (let k = 1; k <= count; k++) {
      const t = from + ((to - from) * k) / count;
      if (t <= 0) continue;
      if (clippingExceeds(h, t, bestErr)) continue; // its error is above the best: it cannot win
      const e = expectedSquaredError(h, t, grid);
      if (e < bestErr) {
        bestErr = e;
        best = t;
      }
    }
  };
  scan(0, h.absMax, n);
  const span = h.absMax / n;
  scan(Math.max(0, best - span), Math.min(h.absMax, best + span), 32);
  return { threshold: best, error: bestErr, minmaxError };
}

