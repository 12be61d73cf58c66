// Confidence intervals by the percentile bootstrap (B. Efron and R. Tibshirani, "An Introduction to
// the Bootstrap", 1993, ch. 13): resample the data with replacement many times, compute the
// statistic on each resample, and take the middle `confidence` share of those values. It assumes no
// distribution, which suits latencies (skewed, with outliers from a loaded machine); Criterion.rs
// (`estimates` with `confidence_level`, `nresamples`) and pyperf report intervals the same way.
//
// The random generator is seeded: the same samples always give the same interval, so a report
// rebuilt from the same timings says the same thing and tests are reproducible.

export interface Interval {
  low: number;
  high: number;
  /** Share of the bootstrap distribution between low and high, e.g. 0.95. */
  confidence: number;
}

export interface BootstrapOptions {
  /** Resamples drawn; Criterion.rs's default is 100 000, 10 000 is plenty for a median of ~10 values. */
  resamples?: number;
  confidence?: number;
  seed?: number;
}

const DEFAULTS = { resamples: 10_000, confidence: 0.95, seed: 0x5eed_1234 } as const;

/**
 * mulberry32 (https://gist.github.com/tommyettinger/46a874533244883189143505d203312c): a 32-bit
 * generator with a full 2^32 period, plenty for resampling indices. Returns uniforms in [0, 1).
 */
export function seededUniform(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Quantile `q` ∈ [0, 1] of sorted values, interpolated linearly between order statistics (R's type 7). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const h = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

export function median(values: ArrayLike<number>): number {
  return medianInPlace(Float64Array.from(values));
}

/**
 * The median of `values`, sorting them in place. A typed array sorts numerically without a
 * comparator call per pair: the bootstrap takes tens of thousands of medians.
 */
export function medianInPlace(values: Float64Array): number {
  return quantileSorted(values.sort(), 0.5);
}

/** Geometric mean: the average of ratios that treats 2× and 0.5× symmetrically. */
export function geometricMean(values: readonly number[]): number {
  return Math.exp(values.reduce((s, v) => s + Math.log(v), 0) / values.length);
}

/**
 * Percentile-bootstrap interval of `statistic` over independent groups of samples: each resample
 * draws every group with replacement at its own size (groups are, e.g., the blocks of different
 * shapes, which were measured separately and so are resampled separately).
 */
export function bootstrapInterval(groups: readonly (readonly number[])[], statistic: (resampled: number[][]) => number, options: BootstrapOptions = {}): Interval {
  const { resamples, confidence, seed } = { ...DEFAULTS, ...options };
  if (groups.some((g) => g.length === 0)) throw new RangeError('bootstrapInterval: every group needs at least one sample');
  const random = seededUniform(seed);
  const buffers = groups.map((g) => new Array<number>(g.length));
  const values = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    groups.forEach((g, k) => {
      const out = buffers[k]!;
      for (let i = 0; i < g.length; i++) out[i] = g[Math.floor(random() * g.length)]!;
    });
    values[r] = statistic(buffers);
  }
  return percentileInterval(values, confidence);
}

/** The middle `confidence` share of the bootstrap values (sorted in place). */
function percentileInterval(values: Float64Array, confidence: number): Interval {
  const sorted = values.sort();
  const tail = (1 - confidence) / 2;
  return { low: quantileSorted(sorted, tail), high: quantileSorted(sorted, 1 - tail), confidence };
}

/**
 * Block bootstrap (non-overlapping blocks, E. Carlstein, Annals of Statistics 14(3), 1986): when
 * values measured close together share a cause (a burst of load on the machine), resampling single
 * values understates the noise; resampling whole blocks keeps what a block shares. Each group's
 * blocks are drawn with replacement and pooled, and `statistic` sees one pooled array per group.
 */
export function blockBootstrapInterval(groups: readonly (readonly (readonly number[])[])[], statistic: (pooled: Float64Array[]) => number, options: BootstrapOptions = {}): Interval {
  const { resamples, confidence, seed } = { ...DEFAULTS, ...options };
  if (groups.some((blocks) => blocks.length === 0)) throw new RangeError('blockBootstrapInterval: every group needs at least one block');
  const random = seededUniform(seed);
  // One buffer per group, big enough for its largest block drawn every time; `statistic` gets the
  // filled part and may reorder it (a median sorts in place).
  const buffers = groups.map((blocks) => new Float64Array(blocks.length * Math.max(...blocks.map((b) => b.length))));
  const pooled = new Array<Float64Array>(groups.length);
  const values = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    groups.forEach((blocks, g) => {
      const out = buffers[g]!;
      let n = 0;
      for (let i = 0; i < blocks.length; i++) {
        const block = blocks[Math.floor(random() * blocks.length)]!;
        for (let j = 0; j < block.length; j++) out[n++] = block[j]!;
      }
      pooled[g] = out.subarray(0, n);
    });
    values[r] = statistic(pooled);
  }
  return percentileInterval(values, confidence);
}

/** Interval of the median of one sample. */
export function medianInterval(samples: readonly number[], options?: BootstrapOptions): Interval {
  return bootstrapInterval([samples], ([s]) => median(s!), options);
}

/** Whether two intervals share no point: the usual conservative test that a change is not noise. */
export function disjoint(a: Pick<Interval, 'low' | 'high'>, b: Pick<Interval, 'low' | 'high'>): boolean {
  return a.high < b.low || b.high < a.low;
}
