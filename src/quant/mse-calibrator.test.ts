// calibrateMse's shortcuts (edge values reused from the previous bin, candidates skipped whose
// clipping error alone is over the best) must not change a single bit of its result: thresholds are
// written into models whose bytes are content-addressed. The reference below is the plain
// definition, evaluated bin by bin and candidate by candidate.
import { describe, expect, it } from 'vitest';
import { calibrateMse, expectedSquaredError, stepFor, type Grid, INT8_GRID } from './mse-calibrator.ts';
import { mergeBins } from './entropy-calibrator.ts';

function refIntegral(u: number): number {
  const whole = Math.floor(u);
  const f = u - whole;
  const partial = f <= 0.5 ? (f * f * f) / 3 : 1 / 24 + ((f - 1) ** 3 + 0.125) / 3;
  return whole / 12 + partial;
}

function refBinError(a: number, b: number, t: number, step: number): number {
  let total = 0;
  const lo = Math.min(a, t);
  const hi = Math.min(b, t);
  if (hi > lo) total += step * step * step * (refIntegral(hi / step) - refIntegral(lo / step));
  const clo = Math.max(a, t);
  if (b > clo) total += ((b - t) ** 3 - (clo - t) ** 3) / 3;
  return total / (b - a);
}

type H = { counts: Float64Array; absMax: number; total: number };

function refError(h: H, t: number, grid: Grid): number {
  if (h.total === 0 || h.absMax <= 0) return 0;
  const width = h.absMax / h.counts.length;
  const step = stepFor(grid, t);
  let sum = 0;
  for (let b = 0; b < h.counts.length; b++) if (h.counts[b] !== 0) sum += h.counts[b]! * refBinError(b * width, (b + 1) * width, t, step);
  return sum / h.total;
}

function refCalibrate(full: H, grid: Grid) {
  const h = { counts: mergeBins(full.counts, 2048), absMax: full.absMax, total: full.total };
  const minmaxError = refError(h, h.absMax, grid);
  if (h.total === 0 || h.absMax <= 0) return { threshold: h.absMax, error: 0, minmaxError };
  let best = h.absMax;
  let bestErr = minmaxError;
  const scan = (from: number, to: number, count: number) => {
    for (let k = 1; k <= count; k++) {
      const t = from + ((to - from) * k) / count;
      if (t <= 0) continue;
      const e = refError(h, t, grid);
      if (e < bestErr) [bestErr, best] = [e, t];
    }
  };
  scan(0, h.absMax, 128);
  scan(Math.max(0, best - h.absMax / 128), Math.min(h.absMax, best + h.absMax / 128), 32);
  return { threshold: best, error: bestErr, minmaxError };
}

/** Histograms shaped like activations: a bulk, a sparse tail, lone outliers, empty stretches. */
function histograms(): H[] {
  let s = 12345;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const out: H[] = [];
  for (let trial = 0; trial < 24; trial++) {
    const bins = [8192, 2048, 333, 4096][trial % 4]!;
    const counts = new Float64Array(bins);
    const spread = bins / [8, 40, 200][trial % 3]!;
    for (let b = 0; b < bins; b++) counts[b] = Math.floor(rnd() * 1000 * Math.exp(-b / spread));
    for (let j = 0; j < trial % 6; j++) counts[Math.floor(rnd() * bins)]! += 1 + Math.floor(rnd() * 3);
    if (trial % 5 === 0) counts[bins - 1] = 1;
    if (trial % 7 === 0) for (let b = 0; b < bins; b++) if (rnd() < 0.5) counts[b] = 0;
    out.push({ counts, absMax: 0.01 + rnd() * 40, total: counts.reduce((a, c) => a + c, 0) });
  }
  return out;
}

describe('calibrateMse', () => {
  it('gives bit for bit the plain definition’s threshold and errors on activation-like histograms (int8 and uint8 grids)', () => {
    for (const h of histograms()) {
      for (const grid of [INT8_GRID, { type: 'uint8', min: -0.1 * h.absMax, max: h.absMax }, { type: 'uint8', min: 0, max: h.absMax }] as Grid[]) {
        const got = calibrateMse(h, { grid });
        const want = refCalibrate(h, grid);
        expect([got.threshold, got.error, got.minmaxError]).toEqual([want.threshold, want.error, want.minmaxError]);
        expect(Object.is(got.error, want.error) && Object.is(got.threshold, want.threshold)).toBe(true);
      }
    }
  });

  it('expectedSquaredError equals the plain definition bit for bit, below, across and beyond the histogram', () => {
    for (const h of histograms().slice(0, 20)) {
      for (const t of [h.absMax * 0.013, h.absMax * 0.5, h.absMax * 0.999, h.absMax, h.absMax * 3]) {
        expect(Object.is(expectedSquaredError(h, t), refError(h, t, INT8_GRID))).toBe(true);
      }
    }
  });
});
