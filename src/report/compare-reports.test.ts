import { describe, expect, it } from 'vitest';
import type { Report } from './build-report.ts';
import { latencyRow, type LatencyRow } from '../../plugins/bench/latency.ts';
import { compareReports } from './compare-reports.ts';

/** A latency row as the bench writes it, from blocks whose INT8/FP32 ratios are exactly `ratios`. */
function measured(ratios: number[], shape = { batch: 1, sequence: 32 }): LatencyRow {
  return latencyRow(
    shape,
    ratios.map((r) => ({ fp32: [10, 10], int8: [10 * r, 10 * r] })),
  );
}

/** A row from a report written before qrun measured its noise: a ratio and nothing else. */
const unmeasured = (ratio: number): LatencyRow => ({ batch: 1, sequence: 32, fp32: { p50: 1, p90: 1, p99: 1, mean: 1 }, int8: { p50: ratio, p90: ratio, p99: ratio, mean: ratio }, ratio, speedup: 1 / ratio });

type Over = {
  options?: Record<string, unknown>;
  sha?: string;
  agreement?: number;
  int8Accuracy?: number | null;
  latency?: LatencyRow[];
  ort?: string;
  status?: string;
  gates?: Report['gates'];
  benchStatus?: Report['steps'][number]['status'];
};

function report(over: Over = {}): Report {
  const bench: Record<string, unknown> = { agreement: over.agreement ?? 0.999, int8Accuracy: over.int8Accuracy === undefined ? 0.98 : over.int8Accuracy, latency: over.latency ?? [unmeasured(0.5)] };
  return {
    schemaVersion: 1,
    qrun: { version: '0.1.0' },
    recipe: { file: 'r.yaml', name: 'r', hash: 'a'.repeat(64), resolved: {} },
    // Reports written before the verdict was spelled out say 'ok'; newer ones 'passed'.
    run: { id: 'x', startedAt: '', finishedAt: '', durationMs: 1, status: (over.status ?? 'passed') as Report['run']['status'] },
    machine: { platform: 'linux', arch: 'x64', release: '', cpu: 'c', cores: 2, memoryGiB: 24, node: 'v20' },
    tools: { 'onnxruntime-node': over.ort ?? '1.30.0' },
    steps: [
      { id: 'calibrate', uses: 'calibrate', plugin: 'calibrate', pluginVersion: '1', status: 'ran', durationMs: 1, metrics: {}, options: over.options ?? { method: 'percentile' }, outputs: { model: { kind: 'qdq-model', sha256: over.sha ?? 'b'.repeat(64), size: 1, path: 'p' } } },
      { id: 'bench', uses: 'bench', plugin: 'bench', pluginVersion: '1', status: over.benchStatus ?? 'ran', durationMs: 1, options: {}, outputs: {}, metrics: over.benchStatus === 'failed' ? {} : bench },
    ],
    gates: over.gates ?? [],
    cache: { root: '.', hits: 0, ran: 2, skipped: 0, failed: 0 },
  };
}

const regressions = (a: Report, b: Report) =>
  compareReports(a, b)
    .metrics.filter((m) => m.regression)
    .map((m) => `${m.name}: ${m.change}`);

describe('compareReports', () => {
  it('reports nothing for identical runs', () => {
    const c = compareReports(report(), report());
    expect(c.options).toEqual([]);
    expect(c.artifacts).toEqual([]);
    expect(c.tools).toEqual([]);
    expect(c.metrics.some((m) => m.regression)).toBe(false);
  });

  it('names changed options, artifacts and tool versions', () => {
    const c = compareReports(report(), report({ options: { method: 'minmax' }, sha: 'c'.repeat(64), ort: '1.31.0' }));
    expect(c.options).toEqual(['calibrate.method: "percentile" → "minmax"']);
    expect(c.artifacts).toEqual(['calibrate.model: bbbbbbbbbbbb → cccccccccccc']);
    expect(c.tools).toEqual(['onnxruntime-node: 1.30.0 → 1.31.0']);
  });

  it('flags an agreement drop beyond the tolerance, not one within it', () => {
    expect(regressions(report(), report({ agreement: 0.95 }))).toEqual(['agreement: -4.90 pt']);
    expect(regressions(report(), report({ agreement: 0.99 }))).toEqual([]);
  });
});

describe('compareReports: a run that did not pass, or a metric that disappeared, is a regression', () => {
  it.each(['failed', 'interrupted', 'gates-failed', 'regressed'])('b with status %s is a regression', (status) => {
    const c = compareReports(report({ status: 'ok' }), report({ status }));
    expect(c.status).toMatchObject({ beforePassed: true, afterPassed: false });
    expect(regressions(report({ status: 'ok' }), report({ status }))).toEqual([`run status: ok → ${status}`]);
  });

  it("accepts old reports' 'ok' and new 'passed' as passing, but not an old 'ok' whose gate failed", () => {
    expect(regressions(report({ status: 'ok' }), report({ status: 'passed' }))).toEqual([]);
    expect(regressions(report({ status: 'passed' }), report({ status: 'ok' }))).toEqual([]);
    const gateFailed = report({ status: 'ok', gates: [{ metric: 'bench.agreement', op: '>=', value: 0.9999, actual: 0.999, pass: false }] });
    expect(regressions(report(), gateFailed)).toEqual(['run status: passed → ok, but a gate failed']);
    expect(compareReports(gateFailed, report()).status.beforePassed).toBe(false);
  });

  it('a failed bench step in b: every metric it had is missing in b, and says why', () => {
    const c = compareReports(report(), report({ status: 'failed', benchStatus: 'failed' }));
    expect(c.metrics.filter((m) => m.regression).map((m) => `${m.name} ${m.change}`)).toEqual([
      'run status passed → failed',
      'agreement missing in b (bench failed)',
      'INT8 accuracy missing in b (bench failed)',
      'INT8/FP32 latency 1×32 missing in b (bench failed)',
    ]);
  });

  it('a metric present before and absent now is a regression; one present only now is new', () => {
    const c = compareReports(report({ int8Accuracy: 0.98 }), report({ int8Accuracy: null, latency: [unmeasured(0.5), unmeasured(0.4)].map((l, i) => ({ ...l, sequence: 32 * (i + 1) })) }), { afterName: 'this run' });
    expect(c.metrics.map((m) => [m.name, m.change, m.verdict])).toEqual([
      ['agreement', '+0.00 pt', ''],
      ['INT8 accuracy', 'missing in this run', 'REGRESSION'],
      ['INT8/FP32 latency 1×32', '1.00×', 'within tolerance (no noise estimate)'],
      ['INT8/FP32 latency 1×64', 'new', 'new'],
    ]);
    expect(compareReports(report({ latency: [measured([0.5, 0.5, 0.5])] }), report({ latency: [] })).metrics.find((m) => m.name === 'INT8/FP32 latency 1×32')).toMatchObject({ change: 'missing in b', regression: true });
  });
});

describe('compareReports: a latency change is called only outside the noise', () => {
  const baseline = [0.52, 0.55, 0.58, 0.6, 0.61, 0.63, 0.66, 0.7, 0.78, 0.95];

  it('within noise: overlapping intervals, even when the point ratio rose 25% (the old "1.25× REGRESSION")', () => {
    const noisy = baseline.map((r) => r * 1.25);
    const c = compareReports(report({ latency: [measured(baseline)] }), report({ latency: [measured(noisy)] }));
    const m = c.metrics.find((x) => x.name === 'INT8/FP32 latency 1×32')!;
    expect(m).toMatchObject({ change: '1.25×', verdict: 'within noise', regression: false });
    expect(m.before).toMatch(/^0\.620 \[0\.\d{3}–0\.\d{3}\]$/);
  });

  it('a regression: intervals disjoint and the ratio up beyond the tolerance', () => {
    const slower = baseline.map((r) => r * 2);
    expect(compareReports(report({ latency: [measured(baseline)] }), report({ latency: [measured(slower)] })).metrics.find((x) => x.name.startsWith('INT8/FP32'))).toMatchObject({ change: '2.00×', verdict: 'REGRESSION', regression: true });
  });

  it('rows a task timed itself are matched by their label (text generation: time to first token and tokens/s of the same batch × length)', () => {
    const steady = [0.6, 0.6, 0.6, 0.6, 0.6];
    const rows = (decode: number) => [
      { ...measured(steady, { batch: 1, sequence: 16 }), label: 'time to first token 1×16' },
      { ...measured(steady.map((r) => r * decode), { batch: 1, sequence: 16 }), label: 'tokens/s 1×16', tokens: 15 },
    ];
    const c = compareReports(report({ latency: rows(1) }), report({ latency: rows(2) }));
    const names = c.metrics.filter((m) => m.name.startsWith('INT8/FP32')).map((m) => [m.name, m.verdict]);
    expect(names).toEqual([
      ['INT8/FP32 latency time to first token 1×16', 'within noise'],
      ['INT8/FP32 latency tokens/s 1×16', 'REGRESSION'],
    ]);
  });

  it('outside the noise but within the tolerance is not a regression, and says so; faster is faster', () => {
    const steady = [0.6, 0.6, 0.6, 0.6, 0.6];
    const c = compareReports(report({ latency: [measured(steady)] }), report({ latency: [measured(steady.map((r) => r * 1.1))] }));
    expect(c.metrics.find((x) => x.name.startsWith('INT8/FP32'))).toMatchObject({ verdict: 'slower, within tolerance', regression: false });
    const f = compareReports(report({ latency: [measured(steady)] }), report({ latency: [measured(steady.map((r) => r * 0.5))] }));
    expect(f.metrics.find((x) => x.name.startsWith('INT8/FP32'))).toMatchObject({ verdict: 'faster', regression: false });
  });

  it('reports without intervals fall back to the tolerance and say "no noise estimate"', () => {
    const old = compareReports(report({ latency: [unmeasured(0.5)] }), report({ latency: [measured([0.7, 0.7, 0.72])] }));
    expect(old.metrics.find((x) => x.name.startsWith('INT8/FP32'))).toMatchObject({ verdict: 'REGRESSION (no noise estimate)', regression: true });
    const small = compareReports(report({ latency: [unmeasured(0.5)] }), report({ latency: [unmeasured(0.55)] }));
    expect(small.metrics.find((x) => x.name.startsWith('INT8/FP32'))).toMatchObject({ verdict: 'within tolerance (no noise estimate)', regression: false });
  });
});
