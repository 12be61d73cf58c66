import { describe, expect, it } from 'vitest';
import { latencyRow, overallSpeedup } from '../../plugins/bench/latency.ts';
import type { Report } from './build-report.ts';
import { matrixTable, variantRows } from './matrix-report.ts';

/** A variant's report whose bench measured `ratios` (INT8/FP32 per block) at one shape. */
function variant(agreement: number, ratios: number[] | null, status = 'passed'): Report {
  const latency = ratios ? [latencyRow({ batch: 1, sequence: 64 }, ratios.map((r) => ({ fp32: [10], int8: [10 * r] })))] : [];
  const speed = ratios ? overallSpeedup(latency) : {};
  return {
    schemaVersion: 1,
    qrun: { version: '0.1.0' },
    recipe: { file: 'r.yaml', name: 'r', hash: 'a'.repeat(64), resolved: {} },
    run: { id: 'x', startedAt: '', finishedAt: '', durationMs: 1, status: status as Report['run']['status'] },
    machine: { platform: 'linux', arch: 'x64', release: '', cpu: 'c', cores: 2, memoryGiB: 24, node: 'v20' },
    tools: {},
    steps: [{ id: 'bench', uses: 'bench', plugin: 'bench', pluginVersion: '1', status: 'ran', durationMs: 1, options: {}, outputs: {}, metrics: { agreement, int8Accuracy: 0.98, latency, ...speed } }],
    gates: [],
    cache: { root: '.', hits: 0, ran: 1, skipped: 0, failed: 0 },
  };
}

// Block ratios of one noisy machine: the same model measures anywhere in 0.45–0.75.
const noisy = [0.45, 0.5, 0.55, 0.58, 0.6, 0.62, 0.65, 0.7, 0.72, 0.75];
const best = (rows: ReturnType<typeof variantRows>) => rows.filter((r) => r.best).map((r) => [r.variant, r.bestReason]);

describe('matrix: the best variant', () => {
  it.each(['passed', 'ok'])('picks by agreement when the speed-ups are within noise, and says so (status %s)', (status) => {
    // b's point speed-up is higher (its blocks are 5% faster) but the intervals overlap: a decides on agreement.
    const rows = variantRows([variant(0.999, noisy, status), variant(0.99, noisy.map((r) => r * 0.95), status)], ['a', 'b']);
    expect(rows[1]!.speedup!).toBeGreaterThan(rows[0]!.speedup!);
    expect(best(rows)).toEqual([['a', expect.stringMatching(/^speed-ups within noise of each other \(a 1\.\d\d× \[1\.\d\d–1\.\d\d\], b .*\); chosen on agreement$/)]]);
    expect(matrixTable(rows)).toMatch(/a .*1\.\d\d× \[1\.\d\d–1\.\d\d\].*★ best/);
  });

  it('picks the clearly faster variant when the intervals are disjoint', () => {
    const rows = variantRows([variant(0.999, noisy), variant(0.99, noisy.map((r) => r * 0.5))], ['a', 'b']);
    expect(best(rows)).toEqual([['b', expect.stringMatching(/^fastest, outside the noise of the others/)]]);
  });

  it('breaks a full tie by matrix order, deterministically, and says so', () => {
    const rows = variantRows([variant(0.999, noisy), variant(0.999, noisy.map((r) => r * 0.97)), variant(0.999, noisy)], ['a', 'b', 'c']);
    expect(best(rows)).toEqual([['a', expect.stringMatching(/same agreement and accuracy: the first in matrix order$/)]]);
  });

  it('only variants that passed compete (old "ok" and new "passed" both pass)', () => {
    const rows = variantRows([variant(0.999, noisy, 'gates-failed'), variant(0.99, noisy, 'ok'), variant(0.999, noisy.map((r) => r * 0.5), 'failed')], ['a', 'b', 'c']);
    expect(rows.map((r) => r.gatesPass)).toEqual([false, true, false]);
    expect(best(rows)).toEqual([['b', 'the only variant that passed']]);
  });

  it('without a bench, says no speed-up was measured', () => {
    const rows = variantRows([variant(0.99, null), variant(0.99, null)], ['a', 'b']);
    expect(best(rows)).toEqual([['a', 'no speed-up measured; same agreement and accuracy: the first in matrix order']]);
  });

  it('without noise estimates, speed-ups within 20% are a tie', () => {
    const single = (r: number) => variant(0.99, [r]);
    const rows = variantRows([single(0.5), { ...variant(0.999, [0.55]) }], ['a', 'b']);
    expect(rows.map((r) => r.speedupInterval)).toEqual([null, null]);
    expect(best(rows)).toEqual([['b', expect.stringContaining('no noise estimate')]]);
  });
});
