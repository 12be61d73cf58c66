// The bench step's latency measurement and its noise. On a shared machine one INT8/FP32 ratio says
// little: the same model's 1×128 speed-up ranged 0.98× to 6.81× over six runs on a loaded 2-core
// machine. So the iterations are split into blocks; within a block FP32 and INT8 run in interleaved
// pairs (alternating which goes first) so both see the same machine state, each block gives one
// INT8/FP32 ratio of medians, and the ratio reported is the median over blocks with a bootstrap
// interval over blocks (src/stats/bootstrap.ts). Load that comes and goes during the run spreads the
// block ratios and so widens the interval; compare, --baseline and the matrix read the interval to
// tell a change from noise. The total number of runs is what it was (warm-up + iterations pairs).
import { percentileOf } from '../../src/quant/agreement.ts';
import { bootstrapInterval, geometricMean, median, medianInterval, type Interval } from '../../src/stats/bootstrap.ts';

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  mean: number;
}

export interface LatencyRow {
  batch: number;
  sequence: number;
  /** Over every timed run of the shape. */
  fp32: LatencySummary;
  int8: LatencySummary;
  /** INT8/FP32: the median over blocks of each block's INT8 median ÷ FP32 median; below 1 is faster. */
  ratio: number;
  /** 95% bootstrap interval of `ratio` over blocks. Absent with a single block, and in reports from before qrun measured its noise. */
  ratioInterval?: Interval;
  /** Each block's INT8/FP32 ratio: the samples behind `ratio` and its interval. */
  blockRatios?: number[];
  /** 1 / ratio. */
  speedup: number;
}

export type Model = 'fp32' | 'int8';

export interface TimingPlan {
  warmup: number;
  iterations: number;
  blocks: number;
  signal?: AbortSignal;
}

/** Block sizes: `iterations` pairs split into min(blocks, iterations) blocks differing by at most one. */
export function blockSizes(iterations: number, blocks: number): number[] {
  const n = Math.max(1, Math.min(blocks, iterations));
  return Array.from({ length: n }, (_, b) => Math.floor(iterations / n) + (b < iterations % n ? 1 : 0));
}

/**
 * Times `run` for both models: `warmup` untimed pairs, then `iterations` timed pairs in blocks.
 * Pair i runs FP32 first when i is even and INT8 first when odd, so neither model always inherits
 * the other's cache state. Returns each block's timings in milliseconds.
 */
export async function timeInterleavedBlocks(run: (model: Model) => Promise<unknown>, plan: TimingPlan): Promise<{ fp32: number[]; int8: number[] }[]> {
  const time = async (model: Model) => {
    const t0 = performance.now();
    await run(model);
    return performance.now() - t0;
  };
  for (let i = 0; i < plan.warmup; i++) {
    await run('fp32');
    await run('int8');
  }
  const blocks: { fp32: number[]; int8: number[] }[] = [];
  let pair = 0;
  for (const size of blockSizes(plan.iterations, plan.blocks)) {
    const block = { fp32: [] as number[], int8: [] as number[] };
    for (let i = 0; i < size; i++, pair++) {
      if (plan.signal?.aborted) throw new Error('interrupted');
      const order: Model[] = pair % 2 === 0 ? ['fp32', 'int8'] : ['int8', 'fp32'];
      for (const m of order) block[m].push(await time(m));
    }
    blocks.push(block);
  }
  return blocks;
}

function summarize(times: number[]): LatencySummary {
  const s = [...times].sort((a, b) => a - b);
  return { p50: percentileOf(s, 50), p90: percentileOf(s, 90), p99: percentileOf(s, 99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

/** The report's row for one shape from its blocks of timings. */
export function latencyRow(shape: { batch: number; sequence: number }, blocks: { fp32: number[]; int8: number[] }[]): LatencyRow {
  const blockRatios = blocks.map((b) => median(b.int8) / median(b.fp32));
  const ratio = median(blockRatios);
  return {
    batch: shape.batch,
    sequence: shape.sequence,
    fp32: summarize(blocks.flatMap((b) => b.fp32)),
    int8: summarize(blocks.flatMap((b) => b.int8)),
    ratio,
    // One block is one sample: it says nothing about noise, and a zero-width interval would claim it does.
    ...(blockRatios.length > 1 ? { ratioInterval: medianInterval(blockRatios) } : {}),
    blockRatios,
    speedup: 1 / ratio,
  };
}

/**
 * The overall speed-up: geometric mean over shapes of FP32/INT8, with a bootstrap interval that
 * resamples each shape's blocks separately (the shapes were measured separately).
 */
export function overallSpeedup(rows: LatencyRow[]): { speedup: number; speedupInterval?: Interval } {
  const speedup = geometricMean(rows.map((r) => r.speedup));
  const groups = rows.map((r) => r.blockRatios ?? []);
  if (rows.length === 0 || groups.some((g) => g.length < 2)) return { speedup };
  return { speedup, speedupInterval: bootstrapInterval(groups, (gs) => geometricMean(gs.map((g) => 1 / median(g)))) };
}
