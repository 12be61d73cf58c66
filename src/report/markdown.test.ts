// report.md: the review sections (latency with p99 and the ratio's interval, accuracy by class and
// the INT8-vs-FP32 confusion matrix, the layers, the whole --baseline comparison), verdict first.
import { describe, expect, it } from 'vitest';
import type { Report } from './build-report.ts';
import { renderMarkdown } from './markdown.ts';

type Step = Report['steps'][number];
const step = (id: string, plugin: string, metrics: Record<string, unknown>): Step => ({ id, uses: plugin, plugin, pluginVersion: '1.0.0', key: 'k'.repeat(64), status: 'ran', durationMs: 10, metrics, outputs: {}, options: {} });

const bench = {
  agreement: 0.9333,
  fp32Accuracy: 0.9667,
  int8Accuracy: 0.9,
  accuracyDrop: 0.0667,
  maxAbsError: 0.5,
  meanCosine: 0.999,
  sizes: { fp32: 5e6, int8: 3e6 },
  latency: [
    { batch: 1, sequence: 32, fp32: { p50: 1, p90: 1.2, p99: 1.5, mean: 1 }, int8: { p50: 0.8, p90: 1, p99: 1.25, mean: 0.8 }, ratio: 0.8, ratioInterval: { low: 0.74, high: 0.86, confidence: 0.95 }, speedup: 1.25 },
    { batch: 8, sequence: 128, fp32: { p50: 30, p90: 33, p99: 35, mean: 30 }, int8: { p50: 24, p90: 26, p99: 28, mean: 24 }, ratio: 0.8, speedup: 1.25 },
  ],
  perClass: [
    { class: 'de', samples: 10, fp32Accuracy: 1, int8Accuracy: 1, fp32Predicted: 10, flipped: 0 },
    { class: 'fr', samples: 20, fp32Accuracy: 0.95, int8Accuracy: 0.85, fp32Predicted: 20, flipped: 2 },
  ],
  confusion: { labels: ['de', 'fr'], fp32: [[10, 0], [1, 19]], int8: [[10, 0], [3, 17]], int8VsFp32: [[11, 0], [2, 17]] },
};

function report(): Report {
  return {
    schemaVersion: 1,
    qrun: { version: '0.1.0' },
    recipe: { file: 'r.yaml', name: 'r', hash: 'h'.repeat(64), resolved: {} },
    run: { id: 'run-1', startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:00:01.000Z', durationMs: 1000, status: 'passed' },
    machine: { platform: 'linux', arch: 'x64', release: '6', cpu: 'cpu', cores: 2, memoryGiB: 8, node: 'v20' },
    tools: {},
    steps: [
      step('qdq', 'qdq.insert', { quantizedNodes: 3, skipped: [{ node: '/m/classifier/Gemm', reason: 'excluded by name' }] }),
      step('sens', 'sensitivity', { mostSensitive: [{ node: '/m/a/MatMul', op: 'MatMul', sqnrDb: 12.34, agreement: 0.97 }, { node: '/m/b/MatMul', op: 'MatMul', sqnrDb: null, agreement: 1 }], fallback: ['/m/a/MatMul'] }),
      step('bench', 'bench', bench),
    ],
    gates: [],
    cache: { root: '.qrun', hits: 0, ran: 3, skipped: 0, failed: 0 },
  };
}

const sectionOf = (md: string, title: string) => {
  const start = md.indexOf(`\n## ${title}\n`);
  return start < 0 ? undefined : md.slice(start + 1, md.indexOf('\n## ', start + 1));
};

describe('renderMarkdown: review sections', () => {
  it('latency: p50 / p90 / p99 per shape and INT8/FP32 with its 95% interval, or no noise estimate', () => {
    const s = sectionOf(renderMarkdown(report()), 'Latency')!;
    expect(s).toContain('| 1×32 | 1.00 ms / 1.20 ms / 1.50 ms | 800 µs / 1.00 ms / 1.25 ms | 0.80× [0.74–0.86] |');
    expect(s).toContain('| 8×128 | 30.00 ms / 33.00 ms / 35.00 ms | 24.00 ms / 26.00 ms / 28.00 ms | 0.80× (one block: no noise estimate) |');
  });

  it('accuracy by class, and the INT8-against-FP32 matrix with the diagonal in bold and empty cells as dots', () => {
    const s = sectionOf(renderMarkdown(report()), 'Accuracy by class')!;
    expect(s).toContain('| de | 10 | 100.0% | 100.0% | +0.00 pt | 0 of 10 |');
    expect(s).toContain('| fr | 20 | 95.0% | 85.0% | −10.00 pt | 2 of 20 |');
    expect(s).toContain('| **de** | **11** | · |');
    expect(s).toContain('| **fr** | 2 | **17** |');
  });

  it('layers: the most sensitive with their precision, and every node left in float with why', () => {
    const s = sectionOf(renderMarkdown(report()), 'Layers')!;
    expect(s).toContain('| `/m/a/MatMul` | MatMul | 12.3 dB | 97.00% | float (fallback) |');
    expect(s).toContain('| `/m/b/MatMul` | MatMul | ∞ | 100.00% | INT8 |');
    expect(s).toContain('| `/m/classifier/Gemm` | qdq | excluded by name |');
    expect(s).toContain('| `/m/a/MatMul` | sens | returned to float by the sensitivity fallback |');
  });

  it('the whole --baseline comparison, regressions in bold', () => {
    const r = report();
    r.baseline = {
      file: 'b.json',
      compared: 2,
      regressions: [{ name: 'agreement', change: '−6.67 pt' }],
      metrics: [
        { name: 'agreement', before: '100.00%', after: '93.33%', change: '−6.67 pt', verdict: 'REGRESSION', regression: true },
        { name: 'INT8/FP32 latency 1×32', before: '0.79', after: '0.80', change: '1.01×', verdict: 'within noise', regression: false },
      ],
    };
    const s = sectionOf(renderMarkdown(r), 'Baseline')!;
    expect(s).toContain('| agreement | 100.00% | 93.33% | −6.67 pt | **REGRESSION** |');
    expect(s).toContain('| INT8/FP32 latency 1×32 | 0.79 | 0.80 | 1.01× | within noise |');
  });

  it('a report without these metrics (an older bench, no qdq step) has none of these sections', () => {
    const r = report();
    r.steps = [step('bench', 'bench', { ...bench, perClass: undefined, latency: [] })];
    const md = renderMarkdown(r);
    for (const title of ['Latency', 'Accuracy by class', 'Layers']) expect(sectionOf(md, title), title).toBeUndefined();
  });
});
