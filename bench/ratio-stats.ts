// Noise-aware figures for the benchmarks: a ratio is the median of per-iteration ratios of runs
// taken in turns (the machine's drift cancels pair by pair), with a bootstrap 95% interval of that
// median; a time is a median with the 10th–90th percentile of its runs. Seeded: the same runs give
// the same interval.

export interface Interval {
  median: number;
  lo: number;
  hi: number;
  n: number;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function quantile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(p * (sorted.length - 1))))]!;
}

/** Median and the 10th–90th percentile of `values` (times of whole runs). */
export function spread(values: number[]): Interval {
  const s = [...values].sort((a, b) => a - b);
  return { median: median(s), lo: quantile(s, 0.1), hi: quantile(s, 0.9), n: s.length };
}

/** Median of `a[i] / b[i]` and a percentile-bootstrap 95% interval of it (2000 resamples, seeded). */
export function ratioInterval(a: number[], b: number[], resamples = 2000): Interval {
  const r = a.map((x, i) => x / b[i]!);
  let seed = 0x9e3779b9;
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const boots: number[] = [];
  const sample = new Array<number>(r.length);
  for (let k = 0; k < resamples; k++) {
    for (let i = 0; i < r.length; i++) sample[i] = r[Math.floor(rand() * r.length)]!;
    boots.push(median(sample));
  }
  boots.sort((x, y) => x - y);
  return { median: median(r), lo: quantile(boots, 0.025), hi: quantile(boots, 0.975), n: r.length };
}

export const fmtInterval = (v: Interval, digits = 3, unit = ''): string => `${v.median.toFixed(digits)}${unit} [${v.lo.toFixed(digits)}, ${v.hi.toFixed(digits)}]`;
