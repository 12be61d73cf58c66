// Entropy (KL-divergence) calibration, the algorithm of TensorRT's entropy calibrator:
// S. Migacz, "8-bit Inference with TensorRT", GTC 2017 (NVIDIA slides, "Calibration" section), and
// https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/work-quantized-types.html
// (IInt8EntropyCalibrator2). The |x| histogram has 2048 bins over [0, absMax]. For each candidate
// threshold bin i ≥ 128: the reference distribution P is hist[0:i] with every count beyond i added to
// its last bin (clipping keeps those values, at the threshold); the candidate Q is hist[0:i] merged
// into 128 levels (int8's positive half) and expanded back, each level's count spread evenly over its
// non-empty bins. The threshold is the end of the bin range whose KL(P‖Q) is smallest.
//
// The levels follow the grid the tensor really gets (src/quant/mse-calibrator.ts Grid): 128 codes
// over [0, T] for int8, as TensorRT; up to 256 for uint8 over a one-sided range, as
// pytorch-quantization's calibrator does for unsigned tensors. With 128 levels for a uint8 Relu
// output, Q is twice as coarse as the grid and KL cuts further than the grid needs. The scan starts
// where a candidate is as many bins wide as it has levels (TensorRT's 128 for int8).
//
// KL weighs where the mass lies, never how far a clipped value moves: a few outliers many bulk-widths
// away (a LayerNorm output's outlier channels) add almost nothing to P's last bin, while every
// wider candidate smooths the bulk into fewer bins, so KL cuts such a tensor down to about 1/16 of its
// range whatever the outliers carry. calibrate never lets it cut below the threshold of least
// consumer-output error (auto-calibrator.ts).
import { INT8_GRID, stepFor, type Grid } from './mse-calibrator.ts';
import type { AbsHistogram } from './range-collector.ts';

/** TensorRT's histogram resolution; finer histograms are merged down to it first. */
export const ENTROPY_BINS = 2048;
/** Quantized levels on one side of zero for int8 (TensorRT uses 128). */
export const ENTROPY_LEVELS = 128;

/** Merges `counts` into `target` bins (each new bin sums a contiguous run of old ones). */
export function mergeBins(counts: Float64Array, target: number): Float64Array {
  if (counts.length <= target) return counts;
  const out = new Float64Array(target);
  for (let b = 0; b < counts.length; b++) out[Math.floor((b * target) / counts.length)]! += counts[b]!;
  return out;
}

/** Prefix sums over the histogram that make each candidate O(levels) instead of O(bins). */
export interface KlTables {
  hist: Float64Array;
  /** mass[b] = Σ hist[0:b]; nonEmpty[b] = #{k < b : hist[k] > 0}; hLogH[b] = Σ hist·ln hist over [0:b]. */
  mass: Float64Array;
  nonEmpty: Float64Array;
  hLogH: Float64Array;
}

export function klTables(hist: Float64Array): KlTables {
  const n = hist.length;
  const mass = new Float64Array(n + 1);
  const nonEmpty = new Float64Array(n + 1);
  const hLogH = new Float64Array(n + 1);
  for (let b = 0; b < n; b++) {
    const h = hist[b]!;
    mass[b + 1] = mass[b]! + h;
    nonEmpty[b + 1] = nonEmpty[b]! + (h > 0 ? 1 : 0);
    hLogH[b + 1] = hLogH[b]! + (h > 0 ? h * Math.log(h) : 0);
  }
  return { hist, mass, nonEmpty, hLogH };
}

/**
 * KL(P‖Q) for candidate bin i (TensorRT's definition, see the header). Q spreads each of the
 * `levels` chunks' mass evenly over the chunk's non-empty bins, so within a chunk Q is constant and
 * Σ p·ln q collapses to (chunk mass in P)·ln q_chunk; Σ p·ln p comes from the h·ln h prefix sums.
 */
export function klForThreshold(t: KlTables, i: number, levels = ENTROPY_LEVELS): number {
  const total = t.mass[t.hist.length]!;
  const inRange = t.mass[i]!;
  const outliers = total - inRange;
  if (total === 0 || inRange === 0) return Infinity;
  const last = t.hist[i - 1]!;
  if (last === 0 && outliers > 0) return Infinity; // P has mass where Q has none
  // Σ p ln p, with p = h / total except the last bin, which also holds the outliers.
  const lastP = last + outliers;
  const sumHLogH = t.hLogH[i - 1]! + (lastP > 0 ? lastP * Math.log(lastP) : 0);
  const pLogP = sumHLogH / total - Math.log(total) * (inRange + outliers) / total;
  // Σ p ln q over the chunks: bins [ceil(c·i/levels), ceil((c+1)·i/levels)) form chunk c.
  let pLogQ = 0;
  let from = 0;
  for (let c = 0; c < levels; c++) {
    const to = c === levels - 1 ? i : Math.ceil(((c + 1) * i) / levels);
    const chunkMass = t.mass[to]! - t.mass[from]!;
    if (chunkMass > 0) {
      const q = chunkMass / (t.nonEmpty[to]! - t.nonEmpty[from]!) / inRange;
      const pMass = (chunkMass + (to === i ? outliers : 0)) / total;
      pLogQ += pMass * Math.log(q);
    }
    from = to;
  }
  return Math.max(0, pLogP - pLogQ);
}

export interface EntropyResult {
  threshold: number;
  /** Candidate bin (in the 2048-bin histogram) and its divergence. */
  bin: number;
  divergence: number;
}

/** Codes of the grid over [0, T]: 128 for int8 (TensorRT), up to 256 for a one-sided uint8 tensor. */
export function levelsFor(grid: Grid, t: number): number {
  if (grid.type === 'int8') return ENTROPY_LEVELS;
  return Math.max(2, Math.min(256, Math.round(t / stepFor(grid, t)) + 1));
}

/** The |x| threshold of minimum KL divergence. `levels` fixes the level count (tests); otherwise the grid gives it. */
export function calibrateEntropy(h: Pick<AbsHistogram, 'counts' | 'absMax' | 'total'>, opts: { bins?: number; levels?: number; stride?: number; grid?: Grid } = {}): EntropyResult {
  const grid = opts.grid ?? INT8_GRID;
  const levelsAt = (i: number, n: number) => opts.levels ?? levelsFor(grid, (i / n) * h.absMax);
  const hist = Float64Array.from(mergeBins(h.counts, opts.bins ?? ENTROPY_BINS));
  const n = hist.length;
  if (h.total === 0 || h.absMax <= 0 || n <= levelsAt(n, n)) return { threshold: h.absMax, bin: n, divergence: 0 };
  // As TensorRT and pytorch-quantization do: the first bin holds the exact zeros of ReLU/padding
  // outputs, a spike that would dominate P; it is given the height of its neighbour instead.
  if (n > 1) hist[0] = hist[1]!;
  const stride = Math.max(1, opts.stride ?? 1);
  const tables = klTables(hist);
  let best = n;
  let bestKl = Infinity;
  for (let i = Math.min(opts.levels ?? ENTROPY_LEVELS, n); i <= n; i += stride) {
    const levels = levelsAt(i, n);
    if (i < levels) continue;
    const kl = klForThreshold(tables, i, levels);
    // `<=` keeps the last (largest) of equal minima, as pytorch-quantization does.
    if (kl <= bestKl) {
      bestKl = kl;
      best = i;
    }
  }
  return { threshold: (best / n) * h.absMax, bin: best, divergence: bestKl };
}
