// The FP32-vs-INT8 summary table, shared by the terminal and report.md.
import type { Report } from './build-report.ts';
import { builtinMetricCatalog } from '../engine/builtin-metrics.ts';
import type { LatencyRow } from '../engine/metric-shapes.ts';
import { stepWithRole, valueWithRole, type MetricCatalog } from '../engine/metrics.ts';
import { formatWithInterval } from '../stats/noise.ts';
import { TASK_SUMMARY_LABELS } from '../tasks/metrics.ts';
import { taskMetricsKey, type TaskName } from '../tasks/task.ts';

export interface SummaryRow {
  label: string;
  fp32: string;
  int8: string;
  change: string;
}

const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
const pct = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : `${(x * 100).toFixed(2)}%`);
const ms = (x: number) => (x < 1 ? `${(x * 1000).toFixed(0)} µs` : `${x.toFixed(2)} ms`);

/**
 * Rows for the numbers a finished step reports under the task's roles (agreement, accuracy, sizes,
 * latency: the bench's, for the built-ins), read through the plugins' declarations; none when no
 * step that measures agreement finished.
 */
export function summaryRows(report: Report, catalog: MetricCatalog = builtinMetricCatalog): SummaryRow[] {
  const scored = stepWithRole(report.steps, catalog, 'agreement', { finished: true });
  if (!scored) return [];
  // A task scored by its own measures (bench's `task`: embeddings' recall@10, …) names them.
  const labels = TASK_SUMMARY_LABELS[scored.step.metrics.task as TaskName] ?? { accuracy: 'label accuracy', agreement: 'agreement with FP32', error: 'max |Δ logit| · cosine' };
  const role = (r: Parameters<typeof valueWithRole>[2]) => valueWithRole(report.steps, catalog, r);
  const m = {
    agreement: role('agreement'),
    fp32Accuracy: role('reference-accuracy'),
    int8Accuracy: role('accuracy'),
    accuracyDrop: role('accuracy-drop'),
    maxAbsError: role('max-abs-error'),
    meanCosine: role('mean-cosine'),
    sizes: role('sizes'),
    latency: role('latency'),
  } as {
    agreement: number;
    fp32Accuracy: number | null;
    int8Accuracy: number | null;
    accuracyDrop: number | null;
    maxAbsError: number;
    meanCosine: number;
    sizes: { fp32: number; int8: number };
    latency: LatencyRow[];
  };
  const rows: SummaryRow[] = [
    { label: 'model size', fp32: mb(m.sizes.fp32), int8: mb(m.sizes.int8), change: `${(m.sizes.int8 / m.sizes.fp32).toFixed(2)}×` },
  ];
  // A task with no score against gold (text generation: its perplexity is an extra row) names none.
  if (labels.accuracy) {
    rows.push({
      label: labels.accuracy,
      fp32: pct(m.fp32Accuracy),
      int8: pct(m.int8Accuracy),
      change: m.accuracyDrop === null ? '' : `${m.accuracyDrop > 0 ? '−' : '+'}${Math.abs(m.accuracyDrop * 100).toFixed(2)} pt`,
    });
  }
  rows.push(
    { label: labels.agreement, fp32: '', int8: pct(m.agreement), change: '' },
    { label: labels.error, fp32: '', int8: `${m.maxAbsError.toFixed(4)} · ${m.meanCosine.toFixed(5)}`, change: '' },
  );
  // The task's own numbers beyond the headline (embeddings: min cosine, Spearman).
  const task = scored.step.metrics.task as TaskName | undefined;
  const own = task ? (scored.step.metrics[taskMetricsKey(task)] as Record<string, unknown> | undefined) : undefined;
  for (const x of ('extra' in labels ? labels.extra : undefined) ?? []) {
    const v = own?.[x.metric];
    const f = x.fp32Metric ? own?.[x.fp32Metric] : undefined;
    const c = x.changeMetric ? own?.[x.changeMetric] : undefined;
    const fmt = (n: number) => (x.format === 'ratio' ? pct(n) : n.toFixed(x.digits ?? 5));
    const change = typeof c === 'number' ? `${c >= 0 ? '+' : '−'}${Math.abs(c * 100).toFixed(2)}%` : '';
    if (typeof v === 'number') rows.push({ label: x.label, fp32: typeof f === 'number' ? fmt(f) : '', int8: fmt(v), change });
  }
  for (const l of m.latency) {
    // A row a task timed itself (text generation): tokens/s (higher is better, the change is the speed-up), or a named time.
    if (l.tokens !== undefined) {
      const rate = (t: number) => `${((l.tokens! * 1000) / t).toFixed(1)} tok/s`;
      const up = l.ratioInterval ? { value: 1 / l.ratio, interval: { low: 1 / l.ratioInterval.high, high: 1 / l.ratioInterval.low, confidence: l.ratioInterval.confidence } } : { value: 1 / l.ratio };
      rows.push({ label: l.label ?? `tokens/s ${l.batch}×${l.sequence}`, fp32: rate(l.fp32.p50), int8: rate(l.int8.p50), change: formatWithInterval(up) });
      continue;
    }
    rows.push({
      label: `${l.label ?? `latency ${l.batch}×${l.sequence}`} p50/p90`,
      fp32: `${ms(l.fp32.p50)} / ${ms(l.fp32.p90)}`,
      int8: `${ms(l.int8.p50)} / ${ms(l.int8.p90)}`,
      // INT8/FP32 with the 95% interval the bench measured: "0.63× [0.58–0.69]" (size's row is INT8/FP32 too).
      change: formatWithInterval({ value: l.ratio, interval: l.ratioInterval }),
    });
  }
  return rows;
}

/**
 * What the quantized model's column is called: the bench's `candidate` (read from the graph: INT4 for
 * 4-bit weight-only forms), INT8 otherwise and in reports from before it was recorded.
 */
export function quantizedLabel(report: Report, catalog: MetricCatalog = builtinMetricCatalog): string {
  const scored = stepWithRole(report.steps, catalog, 'agreement', { finished: true });
  const label = scored?.step.metrics.candidate;
  return typeof label === 'string' && label ? label : 'INT8';
}

export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
