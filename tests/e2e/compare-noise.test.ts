// `qrun compare` and `--baseline` on report.json files as qrun writes them: noise is not a
// regression, a failed run or a vanished metric is. One real run of the shipped model gives the
// report; the pairs compared are that report with its bench latency rows rebuilt from chosen block
// ratios (through the bench's own latencyRow), so the intervals are known without timing anything.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { latencyRow, overallSpeedup, type LatencyRow } from '../../plugins/bench/latency.ts';
import type { Report } from '../../src/report/build-report.ts';
import { disjoint } from '../../src/stats/bootstrap.ts';
import { qrun, REPO, tempDir, type QrunResult } from '../helpers/cli.ts';
import { latestReport, step } from '../helpers/report.ts';

const SHAPE = { batch: 1, sequence: 16 };

/** `report` with its bench latency measured as blocks of two pairs whose INT8/FP32 ratios are `ratios`. */
function withBlockRatios(report: Report, ratios: number[]): Report {
  const copy = structuredClone(report);
  const row = latencyRow(SHAPE, ratios.map((r) => ({ fp32: [4, 4], int8: [4 * r, 4 * r] })));
  Object.assign(step(copy, 'bench').metrics, { latency: [row], ...overallSpeedup([row]) });
  return copy;
}

const latencyOf = (r: Report) => (step(r, 'bench').metrics as { latency: LatencyRow[] }).latency[0]!;

describe('compare and --baseline: noise is not a regression, a failed run is', () => {
  const dir = tempDir();
  const cache = join(dir, 'c');
  const recipe = join(dir, 'recipe.yaml');
  let report: Report;
  let reportFile: string;
  let firstRun: QrunResult;
  const write = (name: string, r: Report) => {
    const file = join(dir, name);
    writeFileSync(file, JSON.stringify(r, null, 2));
    return file;
  };

  beforeAll(async () => {
    writeFileSync(
      recipe,
      `name: noise
model: ${join(REPO, 'models/bert-langid')}
data:
  calibration: ${join(REPO, 'data/langid/calib.jsonl')}
  evaluation: ${join(REPO, 'data/langid/eval.jsonl')}
steps:
  - { id: load, uses: hf.load }
  - { id: qdq, uses: qdq.insert }
  - { id: calibrate, uses: calibrate, with: { method: minmax } }
  - { id: bench, uses: bench, with: { samples: 64, warmup: 2, iterations: 20, shapes: [{ batch: ${SHAPE.batch}, sequence: ${SHAPE.sequence} }] } }
`,
    );
    firstRun = await qrun([recipe, '--cache', cache]);
    expect(firstRun.exitCode).toBe(0);
    ({ report } = latestReport(cache));
    reportFile = join(latestReport(cache).dir, 'report.json');
  });

  it('the bench writes each INT8/FP32 ratio with its 95% interval and the pair ratios behind it, in blocks', () => {
    const row = latencyOf(report);
    expect(row.pairRatios!.map((b) => b.length)).toEqual(Array(10).fill(2));
    expect(row.ratioInterval!.confidence).toBe(0.95);
    expect(row.ratioInterval!.low).toBeLessThanOrEqual(row.ratioInterval!.high);
    // The interval is recomputed identically from the stored block ratios: a seeded bootstrap.
    expect(latencyRow(SHAPE, row.pairRatios!.map((b) => ({ fp32: b.map(() => 1), int8: b }))).ratioInterval).toEqual(row.ratioInterval);
    expect((step(report, 'bench').metrics as { speedupInterval?: unknown }).speedupInterval).toMatchObject({ confidence: 0.95 });
    const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync(join(REPO, 'schemas/report.schema.json'), 'utf8')));
    expect(validate(report) ? [] : validate.errors).toEqual([]);
    expect(firstRun.stdout).toMatch(/latency 1×16 p50\/p90 .* \d+\.\d\d× \[\d+\.\d\d–\d+\.\d\d\]/);
  });

  it('the identical model re-benchmarked on a noisy machine: overlapping intervals are "within noise", exit 0', async () => {
    // Two runs whose point ratios differ by 25% (main called this "1.25× REGRESSION").
    const spread = [0.45, 0.5, 0.55, 0.58, 0.6, 0.62, 0.65, 0.7, 0.78, 0.95];
    const a = withBlockRatios(report, spread);
    const b = withBlockRatios(report, spread.map((r) => r * 1.25));
    expect(disjoint(latencyOf(a).ratioInterval!, latencyOf(b).ratioInterval!)).toBe(false);
    const r = await qrun(['compare', write('a.json', a), write('b.json', b)]);
    expect(r.stdout).toMatch(/INT8\/FP32 latency 1×16 .* 1\.25×\s+within noise/);
    expect(r.stdout).not.toMatch(/REGRESSION/);
    expect(r.exitCode).toBe(0);
  });

  it('a real regression: disjoint intervals and a ratio up beyond the tolerance, exit 3', async () => {
    const spread = [0.5, 0.52, 0.55, 0.56, 0.58, 0.6, 0.61, 0.63, 0.65, 0.7];
    const a = withBlockRatios(report, spread);
    const b = withBlockRatios(report, spread.map((r) => r * 1.6));
    expect(disjoint(latencyOf(a).ratioInterval!, latencyOf(b).ratioInterval!)).toBe(true);
    const r = await qrun(['compare', write('a2.json', a), write('b2.json', b)]);
    expect(r.stdout).toMatch(/INT8\/FP32 latency 1×16 .* 1\.\d\d×\s+REGRESSION/);
    expect(r.stdout).toMatch(/1 regression\(s\)/);
    expect(r.exitCode).toBe(3);
  });

  it('compare ok.json failed.json: the failed run and every metric it lost are regressions, exit 3', async () => {
    const failed = structuredClone(report);
    failed.run.status = 'failed';
    failed.run.error = 'step "bench" (bench) failed: out of memory';
    Object.assign(step(failed, 'bench'), { status: 'failed', metrics: {} });
    const r = await qrun(['compare', reportFile, write('failed.json', failed)]);
    expect(r.stdout).toMatch(/run status\s.*REGRESSION/);
    expect(r.stdout).toMatch(/agreement missing in b \(bench failed\)/);
    expect(r.exitCode).toBe(3);
    const lost = structuredClone(report);
    delete (step(lost, 'bench').metrics as { agreement?: number }).agreement;
    const m = await qrun(['compare', reportFile, write('lost.json', lost)]);
    expect(m.stdout).toMatch(/regression\(s\).*: agreement missing in b/);
    expect(m.exitCode).toBe(3);
  });

  it('--baseline: within noise passes, a baseline clearly faster fails, a failed baseline is refused before running', async () => {
    // The re-run is all cache hits, so its bench metrics are the first run's.
    const real = latencyOf(report);
    const wide = [0.5, 0.6, 0.7, 0.8, 0.9, 1.1, 1.2, 1.3, 1.5, 1.7].map((f) => f * real.ratio * 0.8);
    const noisyBaseline = withBlockRatios(report, wide);
    expect(disjoint(latencyOf(noisyBaseline).ratioInterval!, real.ratioInterval!)).toBe(false);
    const same = await qrun([recipe, '--cache', cache, '--baseline', write('noisy-baseline.json', noisyBaseline)]);
    // The baselines are built around the first run's numbers: the bench must be served from the cache.
    expect(step(latestReport(cache).report, 'bench').status).toBe('hit');
    expect(same.stdout).toMatch(/baseline .*: no regression \(\d+ metrics compared\); latency 1×16 within noise/);
    expect(same.exitCode).toBe(0);

    const fasterBaseline = withBlockRatios(report, Array(10).fill(real.ratioInterval!.low / 2));
    const worse = await qrun([recipe, '--cache', cache, '--baseline', write('fast-baseline.json', fasterBaseline)]);
    expect(worse.stdout).toMatch(/baseline .*: INT8\/FP32 latency 1×16 \d+\.\d\d× REGRESSION/);
    expect(worse.exitCode).toBe(3);

    const failed = structuredClone(report);
    failed.run.status = 'failed';
    const runsBefore = readdirSync(join(cache, 'runs')).length;
    const refused = await qrun([recipe, '--cache', cache, '--baseline', write('failed-baseline.json', failed)]);
    expect(refused.stderr).toMatch(/BASELINE_NOT_PASSED: the baseline .*failed-baseline\.json is a run that did not pass \(failed\)/);
    expect(refused.exitCode).toBe(2);
    expect(readdirSync(join(cache, 'runs')).length).toBe(runsBefore);
  });
});
