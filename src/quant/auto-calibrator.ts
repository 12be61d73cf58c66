// The threshold each calibration method gives one tensor, from its streamed statistics, and the
// `auto` method: per tensor, the candidate (minmax, percentile, entropy, mse) with the least error of
// the consumer's output. Both read two |x| histograms of the tensor: the plain one (the values'
// distribution: what percentile, KL and the tensor's own MSE are defined on) and one weighted by the
// consumers (src/quant/consumer-weights.ts: its squared error is the consumer's output error).
//
// Every histogram method keeps one bound: it never cuts below the threshold of least consumer-output
// error. Below that point each further cut adds error to what the consumer computes (the weighted
// error falls, then rises, as T shrinks: rounding grows as T², clipping as the tail moved), so a cut
// there hurts by the measure the consumer sees, whatever the method's own criterion says; above it
// the method's choice stands (it clips less than the optimum, never more). It matters for entropy on
// transformer activations: KL counts mass, not distance, so it cuts a LayerNorm output whose outlier
// channels lie 10–20 bulk-widths out to about 1/16 of its range, clipping exactly the values the
// next MatMul's outlier rows multiply; percentile cuts them too where they are rarer than 1 − p.
// The same bound keeps a saturating Clip's point mass at its bound (known-ranges.ts). A weaker bound,
// "no worse than keeping the whole range", would still allow cuts between that crossing and the
// optimum, which add clipping error concentrated on the few values that carry the outliers: a
// large error on one token (a key that decides where attention goes) does more harm downstream than
// the same squared error spread as rounding noise, so the bound errs on the side of the wider range.
//
// `auto` compares the candidates by the weighted histogram's expected squared error, computed from
// the streamed statistics (no activation is stored, no second pass): the consumer-output error the
// anchors minimise directly (ModelOpt's and AIMET's MSE-style search, AMD Quark's MinMSE), taken
// among the methods' own thresholds so the report can say which method each tensor got.
import { calibrateEntropy } from './entropy-calibrator.ts';
import { calibrateMse, expectedSquaredError, MSE_BINS, type Grid } from './mse-calibrator.ts';
import { mergeBins } from './entropy-calibrator.ts';
import type { AbsHistogram } from './range-collector.ts';

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy' | 'mse' | 'auto';
export const CANDIDATE_METHODS = ['minmax', 'percentile', 'entropy', 'mse'] as const;
export type CandidateMethod = (typeof CANDIDATE_METHODS)[number];

export interface TensorHistograms {
  /** |x| histogram of the values. */
  plain: AbsHistogram;
  /** |x| histogram weighted by the consumers' rows; the plain one where every channel counts alike. */
  weighted: AbsHistogram;
}

export interface ThresholdChoice {
  threshold: number;
  /** The method whose threshold this is (auto: the candidate chosen). */
  method: CandidateMethod;
  /** The method's own threshold, when the consumer-error bound raised it. */
  raisedFrom?: number;
  /** entropy: the KL divergence; mse: its expected squared error and minmax's. */
  divergence?: number;
  mse?: number;
  minmaxMse?: number;
  /** auto: each candidate's threshold and expected consumer-output squared error. */
  candidates?: Record<CandidateMethod, { threshold: number; error: number }>;
}

/**
 * The threshold of least consumer-output error: below it every further cut adds error to what the
 * consumer computes (the error falls, then rises, as T shrinks), so no method goes below it.
 */
export function consumerOptimum(weighted: AbsHistogram, grid: Grid): number {
  return calibrateMse(weighted, { grid }).threshold;
}

/** The method's own threshold on the plain histogram (before any bound). */
function methodThreshold(method: Exclude<CandidateMethod, 'minmax'>, h: AbsHistogram, grid: Grid, percentile: number): Omit<ThresholdChoice, 'method'> {
  if (method === 'percentile') return { threshold: h.percentile(percentile) };
  if (method === 'entropy') {
    const e = calibrateEntropy(h, { grid });
    return { threshold: e.threshold, divergence: e.divergence };
  }
  const m = calibrateMse(h, { grid });
  return { threshold: m.threshold, mse: m.error, minmaxMse: m.minmaxError };
}

/**
 * The threshold `method` gives a tensor whose whole range is `ref` (max |x|, within any known
 * bound): minmax takes ref; the histogram methods their own threshold, never above ref, raised by
 * the consumer-error bound; auto the candidate of least consumer-output error.
 */
export function chooseThreshold(method: CalibrationMethod, hists: TensorHistograms | undefined, ref: number, grid: Grid, opts: { percentile: number }): ThresholdChoice {
  if (method === 'minmax' || !hists || !(ref > 0)) return { threshold: ref, method: method === 'auto' ? 'minmax' : method === 'minmax' ? 'minmax' : method };
  if (method !== 'auto') {
    const own = methodThreshold(method, hists.plain, grid, opts.percentile);
    const t = Math.min(own.threshold, ref);
    const bounded = Math.max(t, Math.min(ref, consumerOptimum(hists.weighted, grid)));
    return { ...own, method, threshold: bounded, ...(bounded > t ? { raisedFrom: t } : {}) };
  }
  const h = { counts: mergeBins(hists.weighted.counts, MSE_BINS), absMax: hists.weighted.absMax, total: hists.weighted.total };
  const candidates = {} as Record<CandidateMethod, { threshold: number; error: number }>;
  for (const m of CANDIDATE_METHODS) {
    const t = m === 'minmax' ? ref : Math.min(ref, methodThreshold(m, hists.plain, grid, opts.percentile).threshold);
    candidates[m] = { threshold: t, error: expectedSquaredError(h, t, grid) };
  }
  // Least error; on a tie (within rounding) the wider range, which clips less.
  let best: CandidateMethod = 'minmax';
  for (const m of CANDIDATE_METHODS) {
    const c = candidates[m];
    const b = candidates[best];
    if (c.error < b.error * (1 - 1e-9) || (c.error <= b.error * (1 + 1e-9) && c.threshold > b.threshold)) best = m;
  }
  return { threshold: candidates[best].threshold, method: best, candidates };
}
