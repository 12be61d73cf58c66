// Whether two measurements differ by more than their noise. A measurement with a confidence interval
// (a bootstrap over blocks, see bootstrap.ts) differs from another when the intervals are disjoint:
// the conservative reading of two intervals (pyperf's `compare_to` says "not significant" short of
// it, Criterion.rs "no change in performance detected"). A measurement without one (a report written
// before qrun measured its noise) can only be judged by a relative tolerance, and says so.
import { disjoint, type Interval } from './bootstrap.ts';

export interface Measured {
  value: number;
  interval?: Pick<Interval, 'low' | 'high'> | null;
}

export interface Shift {
  /** after ÷ before. */
  relative: number;
  /** 'higher' / 'lower' only when the change is outside the noise (or, without intervals, the tolerance). */
  direction: 'higher' | 'lower' | 'within noise';
  /** False when either side has no interval: then `tolerance` stood in for the noise. */
  noiseEstimate: boolean;
}

const hasInterval = (m: Measured): m is Measured & { interval: Pick<Interval, 'low' | 'high'> } =>
  !!m.interval && Number.isFinite(m.interval.low) && Number.isFinite(m.interval.high);

export function shiftBeyondNoise(before: Measured, after: Measured, tolerance: number): Shift {
  const relative = after.value / before.value;
  if (hasInterval(before) && hasInterval(after)) {
    const outside = disjoint(before.interval, after.interval);
    return { relative, direction: !outside ? 'within noise' : after.value > before.value ? 'higher' : 'lower', noiseEstimate: true };
  }
  const direction = relative > 1 + tolerance ? 'higher' : relative < 1 / (1 + tolerance) ? 'lower' : 'within noise';
  return { relative, direction, noiseEstimate: false };
}

/** "0.63× [0.58–0.69]", or "0.63×" with `noNoise` appended when there is no interval. */
export function formatWithInterval(m: Measured, digits = 2, noNoise = ' (no noise estimate)'): string {
  const x = (v: number) => `${v.toFixed(digits)}`;
  return hasInterval(m) ? `${x(m.value)}× [${x(m.interval.low)}–${x(m.interval.high)}]` : `${x(m.value)}×${noNoise}`;
}
