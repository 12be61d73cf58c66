// How many calibration values a threshold saturates: the share with |x| beyond it, which quantize
// to the largest INT8 code (±127 × scale). Read from the |x| histogram the calibrators use, with
// values taken as uniform within a bin (the calibrators' own assumption), so a threshold inside a
// bin counts the part of the bin above it. The report shows this beside the share of the range cut
// (1 − threshold / max|x|), which says how far the range was cut, not how many values it affects:
// a 99.99th-percentile threshold can cut 12% of the range and saturate 0.01% of the values.
import type { AbsHistogram } from '../../src/quant/range-collector.ts';

export function fractionBeyond(h: AbsHistogram, threshold: number): number {
  if (h.total === 0 || h.absMax <= 0 || threshold >= h.absMax) return 0;
  const width = h.absMax / h.bins;
  const t = Math.max(0, threshold);
  let beyond = 0;
  for (let b = Math.floor(t / width); b < h.bins; b++) {
    const lo = b * width;
    const part = lo >= t ? 1 : (lo + width - t) / width;
    beyond += h.counts[b]! * part;
  }
  return Math.min(1, beyond / h.total);
}
