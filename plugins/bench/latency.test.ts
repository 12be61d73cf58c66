import { describe, expect, it } from 'vitest';
import { seededUniform } from '../../src/stats/bootstrap.ts';
import { blockSizes, latencyRow, overallSpeedup, timeInterleavedBlocks, type Model } from './latency.ts';

/** Synthetic blocks: FP32 around `fp32` ms, INT8 around `ratio` × that, with multiplicative noise. */
function blocks(count: number, perBlock: number, ratio: number, seed: number, fp32 = 10) {
  const u = seededUniform(seed);
  const noisy = (x: number) => x * (0.8 + 0.4 * u());
  return Array.from({ length: count }, () => ({
    fp32: Array.from({ length: perBlock }, () => noisy(fp32)),
    int8: Array.from({ length: perBlock }, () => noisy(fp32 * ratio)),
  }));
}

describe('bench latency', () => {
  it('splits the same iterations into blocks (no extra runs)', () => {
    expect(blockSizes(50, 10)).toEqual([5, 5, 5, 5, 5, 5, 5, 5, 5, 5]);
    expect(blockSizes(40, 10)).toEqual(Array(10).fill(4));
    expect(blockSizes(7, 3)).toEqual([3, 2, 2]);
    expect(blockSizes(5, 10)).toEqual([1, 1, 1, 1, 1]);
    expect(blockSizes(1, 10)).toEqual([1]);
  });

  it('runs warm-up pairs, then interleaved pairs alternating which model goes first, in blocks', async () => {
    const calls: Model[] = [];
    const out = await timeInterleavedBlocks(async (m) => void calls.push(m), { warmup: 2, iterations: 6, blocks: 3 });
    expect(calls).toEqual(['fp32', 'int8', 'fp32', 'int8', ...['fp32', 'int8', 'int8', 'fp32', 'fp32', 'int8', 'int8', 'fp32', 'fp32', 'int8', 'int8', 'fp32']]);
    expect(out.map((b) => [b.fp32.length, b.int8.length])).toEqual([
      [2, 2],
      [2, 2],
      [2, 2],
    ]);
    for (const b of out) for (const t of [...b.fp32, ...b.int8]) expect(t).toBeGreaterThanOrEqual(0);
  });

  it('stops between pairs when the step is aborted', async () => {
    const abort = new AbortController();
    let runs = 0;
    const run = async () => {
      if (++runs === 3) abort.abort();
    };
    await expect(timeInterleavedBlocks(run, { warmup: 0, iterations: 10, blocks: 2, signal: abort.signal })).rejects.toThrow(/interrupted/);
    expect(runs).toBe(4);
  });

  it('reports the median of the pairs\' ratios with a block-bootstrap interval that covers the true ratio', () => {
    const timed = blocks(10, 4, 0.6, 3);
    const row = latencyRow({ batch: 1, sequence: 32 }, timed);
    expect(row.pairRatios!.map((b) => b.length)).toEqual(Array(10).fill(4));
    expect(row.pairRatios![2]![1]).toBe(timed[2]!.int8[1]! / timed[2]!.fp32[1]!);
    expect(row.ratioInterval!.low).toBeLessThanOrEqual(row.ratio);
    expect(row.ratioInterval!.high).toBeGreaterThanOrEqual(row.ratio);
    expect(row.ratioInterval!.low).toBeLessThan(0.6);
    expect(row.ratioInterval!.high).toBeGreaterThan(0.6);
    expect(row.speedup).toBeCloseTo(1 / row.ratio);
    // The same timings give the same row, interval included.
    expect(latencyRow({ batch: 1, sequence: 32 }, blocks(10, 4, 0.6, 3))).toEqual(row);
  });

  it('claims no noise estimate from a single block', () => {
    const row = latencyRow({ batch: 1, sequence: 1 }, blocks(1, 5, 0.5, 4));
    expect(row.ratioInterval).toBeUndefined();
    expect(overallSpeedup([row]).speedupInterval).toBeUndefined();
  });

  it('gives the overall speed-up as the geometric mean over shapes, with an interval', () => {
    const rows = [latencyRow({ batch: 1, sequence: 32 }, blocks(10, 4, 0.5, 5)), latencyRow({ batch: 8, sequence: 128 }, blocks(10, 4, 0.8, 6))];
    const { speedup, speedupInterval } = overallSpeedup(rows);
    expect(speedup).toBeCloseTo(Math.sqrt(rows[0]!.speedup * rows[1]!.speedup));
    expect(speedupInterval!.low).toBeLessThan(speedup);
    expect(speedupInterval!.high).toBeGreaterThan(speedup);
    expect(speedupInterval!.low).toBeGreaterThan(1);
  });
});
