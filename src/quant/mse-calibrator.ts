// MSE calibration: the threshold T minimising the expected squared error of symmetric int8
// quantization, x̂ = clamp(round(x / Δ), -127, 127) · Δ with Δ = T / 127, over the |x| histogram:
// rounding error for |x| ≤ T and clipping error (|x| − T)² beyond it. Values are taken as uniform
// within each histogram bin, and the rounding error over a bin is integrated exactly (no aliasing
// between bin centres and the quantization grid, which a centre-point estimate suffers from when a
// step spans only a few bins). ACIQ (Banner et al., 2019, https://arxiv.org/abs/1810.05723) derives
// the same trade-off analytically for Gaussian and Laplace densities.
import { mergeBins } from './entropy-calibrator.ts';
import type { AbsHistogram } from './range-collector.ts';
import { INT8_MAX } from './scale-math.ts';

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
export function expectedSquaredError(h: Hist, t: number, levels = INT8_MAX): number {
  if (h.total === 0 || h.absMax <= 0) return 0;
  const bins = h.counts.length;
  const width = h.absMax / bins;
  const step = t / levels;
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
export function calibrateMse(full: AbsHistogram, opts: { candidates?: number; levels?: number; bins?: number } = {}): MseResult {
  const levels = opts.levels ?? INT8_MAX;
  const h: Hist = { counts: mergeBins(full.counts, opts.bins ?? MSE_BINS), absMax: full.absMax, total: full.total };
  const minmaxError = expectedSquaredError(h, h.absMax, levels);
  if (h.total === 0 || h.absMax <= 0) return { threshold: h.absMax, error: 0, minmaxError };
  const n = opts.candidates ?? 128;
  let best = h.absMax;
  let bestErr = minmaxError;
  const scan = (from: number, to: number, count: number) => {
    for (let k = 1; k <= count; k++) {
      const t = from + ((to - from) * k) / count;
      if (t <= 0) continue;
      const e = expectedSquaredError(h, t, levels);
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
