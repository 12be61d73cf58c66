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

/** Mean squared error of quantizing values uniform on [a, b] (0 ≤ a < b) with threshold T. */
function binError(a: number, b: number, t: number, step: number): number {
  let total = 0;
  const lo = Math.min(a, t);
  const hi = Math.min(b, t);
  if (hi > lo) total += step * step * step * (roundingErrorIntegral(hi / step) - roundingErrorIntegral(lo / step));
  const clo = Math.max(a, t);
  if (b > clo) total += ((b - t) ** 3 - (clo - t) ** 3) / 3;
  return total / (b - a);
}

/** Expected squared error per value when the histogram's values are quantized with threshold t. */
export function expectedSquaredError(h: Hist, t: number, grid: Grid = INT8_GRID): number {
  if (h.total === 0 || h.absMax <= 0) return 0;
  const bins = h.counts.length;
  const width = h.absMax / bins;
  const step = stepFor(grid, t);
  let sum = 0;
  for (let b = 0; b < bins; b++) {
    const c = h.counts[b]!;
    if (c !== 0) sum += c * binError(b * width, (b + 1) * width, t, step);
  }
  return sum / h.total;
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

