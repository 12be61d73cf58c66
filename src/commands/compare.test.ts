import { describe, expect, it } from 'vitest';
import type { Report } from '../report/build-report.ts';
import { compareReports } from './compare.ts';

function report(over: { options?: Record<string, unknown>; sha?: string; agreement?: number; ratio?: number; ort?: string }): Report {
  const lat = (ratio: number) => ({ batch: 1, sequence: 32, fp32: { p50: 1, p90: 1, p99: 1, mean: 1 }, int8: { p50: ratio, p90: ratio, p99: ratio, mean: ratio }, ratio, speedup: 1 / ratio });
  return {
    schemaVersion: 1,
    qrun: { version: '0.1.0' },
    recipe: { file: 'r.yaml', name: 'r', hash: 'a'.repeat(64), resolved: {} },
    run: { id: 'x', startedAt: '', finishedAt: '', durationMs: 1, status: 'ok' },
    machine: { platform: 'linux', arch: 'x64', release: '', cpu: 'c', cores: 2, memoryGiB: 24, node: 'v20' },
    tools: { 'onnxruntime-node': over.ort ?? '1.30.0' },
    steps: [
      { id: 'calibrate', uses: 'calibrate', plugin: 'calibrate', pluginVersion: '1', status: 'ran', durationMs: 1, metrics: {}, options: over.options ?? { method: 'percentile' }, outputs: { model: { kind: 'qdq-model', sha256: over.sha ?? 'b'.repeat(64), size: 1, path: 'p' } } },
      { id: 'bench', uses: 'bench', plugin: 'bench', pluginVersion: '1', status: 'ran', durationMs: 1, options: {}, outputs: {}, metrics: { agreement: over.agreement ?? 0.999, int8Accuracy: 0.98, latency: [lat(over.ratio ?? 0.5)] } },
    ],
    gates: [],
    cache: { root: '.', hits: 0, ran: 2, skipped: 0, failed: 0 },
  };
}

describe('compareReports', () => {
  it('reports nothing for identical runs', () => {
    const c = compareReports(report({}), report({}));
    expect(c.options).toEqual([]);
    expect(c.artifacts).toEqual([]);
    expect(c.tools).toEqual([]);
    expect(c.metrics.some((m) => m.regression)).toBe(false);
  });

  it('names changed options, artifacts and tool versions', () => {
    const c = compareReports(report({}), report({ options: { method: 'minmax' }, sha: 'c'.repeat(64), ort: '1.31.0' }));
    expect(c.options).toEqual(['calibrate.method: "percentile" → "minmax"']);
    expect(c.artifacts).toEqual(['calibrate.model: bbbbbbbbbbbb → cccccccccccc']);
    expect(c.tools).toEqual(['onnxruntime-node: 1.30.0 → 1.31.0']);
  });

  it('flags an agreement drop beyond the tolerance, and a latency ratio beyond its own', () => {
    const c = compareReports(report({}), report({ agreement: 0.95, ratio: 0.7 }));
    expect(c.metrics.find((m) => m.name === 'agreement')?.regression).toBe(true);
    expect(c.metrics.find((m) => m.name.startsWith('INT8/FP32 latency'))?.regression).toBe(true);
    const small = compareReports(report({}), report({ agreement: 0.99, ratio: 0.55 }));
    expect(small.metrics.filter((m) => m.regression)).toEqual([]);
  });
});
