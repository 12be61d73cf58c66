// The bench step's latency measurement and its noise. On a shared machine one INT8/FP32 ratio says
// little: the same model's 1×128 speed-up ranged 0.98× to 6.81× over six runs on a loaded 2-core
// machine. So FP32 and INT8 run in interleaved pairs (alternating which goes first), each pair gives
// one INT8/FP32 ratio measured under the same machine state, and the ratio reported is the median
// of the pairs' ratios — robust to a pair that a burst of load hit on one side. Its 95% interval is a
// block bootstrap (src/stats/bootstrap.ts): the pairs are timed in consecutive blocks and whole
// blocks are resampled, because a burst of load spans neighbouring pairs. Load that comes and goes
// during the run widens the interval; compare, --baseline and the matrix read the interval to tell
// a change from noise. The number of runs is what it was (warm-up + iterations pairs).
//
// Measured on the 2-core machine under a load average of 8 (five runs of the same models): the
// median of pair ratios ranged 0.33–0.75 and every interval overlapped every other; the old single
// p50 ratio ranged 0.20–0.71. A ratio of block medians gave intervals 1.5–3× wider, since a block's
// median of two to five runs is itself fragile.
import { percentileOf } from '../../src/quant/agreement.ts';
import { blockBootstrapInterval, geometricMean, median, medianInPlace, type Interval } from '../../src/stats/bootstrap.ts';
import type { LatencyRow, LatencySummary } from '../../src/engine/metric-shapes.ts';

// The row shapes are the report's contract for a `latency` role metric (src/engine/metric-shapes.ts).
export type { LatencyRow, LatencySummary } from '../../src/engine/metric-shapes.ts';

export type Model = 'fp32' | 'int8';

export interface TimingPlan {
  warmup: number;
  iterations: number;
  blocks: number;
  signal?: AbortSignal;
  /** Called after the warm-up (done 0) and after each timed block: progress for the terminal. */
  onBlock?: (done: number, total: number) => void;
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
  const sizes = blockSizes(plan.iterations, plan.blocks);
  plan.onBlock?.(0, sizes.length);
  let pair = 0;
  for (const size of sizes) {
    const block = { fp32: [] as number[], int8: [] as number[] };
    for (let i = 0; i < size; i++, pair++) {
      if (plan.signal?.aborted) throw new Error('interrupted');
      const order: Model[] = pair % 2 === 0 ? ['fp32', 'int8'] : ['int8', 'fp32'];
      for (const m of order) block[m].push(await time(m));
    }
    blocks.push(block);
    plan.onBlock?.(blocks.length, sizes.length);
  }
  return blocks;
}

function summarize(times: number[]): LatencySummary {
  const s = [...times].sort((a, b) => a - b);
  return { p50: percentileOf(s, 50), p90: percentileOf(s, 90), p99: percentileOf(s, 99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

/** The report's row for one shape from its blocks of timings (fp32[i] and int8[i] are pair i). */
export function latencyRow(shape: { batch: number; sequence: number }, blocks: { fp32: number[]; int8: number[] }[]): LatencyRow {
  const pairRatios = blocks.map((b) => b.int8.map((t, i) => t / b.fp32[i]!));
  const ratio = median(pairRatios.flat());
  return {
    batch: shape.batch,
    sequence: shape.sequence,
    fp32: summarize(blocks.flatMap((b) => b.fp32)),
    int8: summarize(blocks.flatMap((b) => b.int8)),
    ratio,
    // One block is one sample of the machine's state: a zero-width interval would claim it had no noise.
    ...(pairRatios.length > 1 ? { ratioInterval: blockBootstrapInterval([pairRatios], ([pooled]) => medianInPlace(pooled!)) } : {}),
    pairRatios,
    speedup: 1 / ratio,
  };
}

/**
 * The overall speed-up: geometric mean over shapes of FP32/INT8, with a block-bootstrap interval
 * that resamples each shape's blocks separately (the shapes were measured one after the other).
 */
export function overallSpeedup(rows: LatencyRow[]): { speedup: number; speedupInterval?: Interval } {
  const speedup = geometricMean(rows.map((r) => r.speedup));
  const groups = rows.map((r) => r.pairRatios ?? []);
  if (rows.length === 0 || groups.some((g) => g.length < 2)) return { speedup };
  return { speedup, speedupInterval: blockBootstrapInterval(groups, (pooled) => geometricMean(pooled.map((p) => 1 / medianInPlace(p)))) };
}
