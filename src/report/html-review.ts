// The sections of report.html a reviewer signs off on, after the verdict and the headline numbers:
// latency at every shape with its spread and noise, accuracy by class with the confusion matrices,
// the layers (sensitivity, and which stayed in float and why), and the --baseline comparison.
// Each reads the metrics defensively: a report from an older qrun, or a hand-edited one, renders
// without the part it lacks instead of throwing.
import type { LatencyRow } from '../engine/metric-shapes.ts';
import type { Report } from './build-report.ts';
import { barListChart, confusionMatrixChart, escapeHtml, latencyPanelsChart, MATRIX_COLORS } from './charts.ts';
import { floatLayersOf } from './float-layers.ts';
import type { HtmlExtras, SensitivityLayer } from './html-extras.ts';
import { CHART_COLORS, isNum, ms, pct, plural, points, section, table, td } from './html-parts.ts';
import { classRowsOf, confusionOf, isLayer, type ClassRow } from './review-data.ts';
import { shortTensorNames } from './tensor-names.ts';
import { formatWithInterval } from '../stats/noise.ts';

type Step = Report['steps'][number];


// ── Latency ─────────────────────────────────────────────────────────────────────────────────────

const ratioText = (l: LatencyRow) => (isNum(l.ratio) ? formatWithInterval({ value: l.ratio, interval: l.ratioInterval }, 2, ' (one block: no noise estimate)') : 'n/a');

/** Small multiples (one panel per shape, each from zero) and the table of p50/p90/p99 with the ratio's 95% interval. */
export function latencyFigure(rows: LatencyRow[]): string {
  if (rows.length === 0) return '';
  const chart = latencyPanelsChart({
    title: 'Latency by shape: FP32 and INT8 p50, p90 and p99, one panel per shape',
    width: 960,
    series: [
      { name: 'FP32', color: CHART_COLORS.fp32 },
      { name: 'INT8', color: CHART_COLORS.int8 },
    ],
    // A row a task timed itself is named by its label (text generation: time to first token, tokens/s runs).
    panels: rows.map((l) => ({ label: l.label ?? `${l.batch} × ${l.sequence}`, note: `INT8/FP32 ${ratioText(l)}`, values: [l.fp32, l.int8] })),
    yLabel: 'ms',
    format: ms,
  });
  const spread = (s: LatencyRow['fp32']) => `${ms(s.p50)} / ${ms(s.p90)} / ${ms(s.p99)}`;
  const body = rows.map((l) => [
    td(escapeHtml(l.label ?? `${l.batch} × ${l.sequence}`), 'id'),
    td(escapeHtml(spread(l.fp32)), 'num'),
    td(escapeHtml(spread(l.int8)), 'num'),
    td(escapeHtml(ratioText(l)), 'num'),
    td(escapeHtml(isNum(l.speedup) ? `${l.speedup.toFixed(2)}× ${l.speedup >= 1 ? 'faster' : 'slower'}` : 'n/a'), 'num'),
  ]);
  return (
    `<figure id="latency"><h3>Latency by shape</h3><div class="chart-wrap">${chart}</div>` +
    '<figcaption class="caption">One panel per input shape (batch × sequence), each on its own axis from zero, so short shapes are as readable as long ones; ' +
    'the bar is the median (p50), the line above it reaches p99 with a tick at p90 (an arrow where they are above the axis: see the table). INT8/FP32 is the median over interleaved runs of INT8 time ÷ FP32 time ' +
    '(below 1 is faster), with its 95% bootstrap interval: an interval that contains 1 is no measurable change. Absolute times depend on the machine (onnxruntime on CPU).</figcaption></figure>' +
    table(['shape', 'FP32 p50 / p90 / p99', 'INT8 p50 / p90 / p99', 'INT8/FP32 [95% interval]', 'speed-up'], body, 'numbers latency')
  );
}

// ── Accuracy by class ───────────────────────────────────────────────────────────────────────────

/** Past this many classes the table shows the ones INT8 changed most (report.json has them all). */
const MAX_CLASS_ROWS = 40;

export function classSection(bench: Step | undefined): string {
  if (!bench || (bench.status !== 'ran' && bench.status !== 'hit')) return '';
  const rows = classRowsOf(bench.metrics);
  if (!rows) return '';
  const labelled = rows.some((r) => r.samples !== null);
  const drop = (r: ClassRow) => (isNum(r.fp32Accuracy) && isNum(r.int8Accuracy) ? r.fp32Accuracy - r.int8Accuracy : 0);
  let shown = rows;
  if (rows.length > MAX_CLASS_ROWS) {
    const keep = new Set([...rows].sort((a, b) => drop(b) - drop(a) || b.flipped - a.flipped).slice(0, MAX_CLASS_ROWS));
    shown = rows.filter((r) => keep.has(r));
  }
  const worse = (r: ClassRow) => drop(r) > 0 || r.flipped > 0;
  const flips = (r: ClassRow) => (r.fp32Predicted ? `${r.flipped} of ${r.fp32Predicted}` : '—');
  const body = shown.map((r) => {
    const cells = [td(`<strong>${escapeHtml(r.class)}</strong>`)];
    if (labelled) cells.push(td(escapeHtml(r.samples ?? '—'), 'num'), td(escapeHtml(pct(r.fp32Accuracy, 1)), 'num'), td(escapeHtml(pct(r.int8Accuracy, 1)), 'num'), td(escapeHtml(points(r.int8Accuracy, r.fp32Accuracy)), 'num'));
    cells.push(td(escapeHtml(flips(r)), 'num'));
    return cells.map((c) => (worse(r) ? c.replace('<td', '<td data-worse=""') : c));
  });
  const headers = labelled ? ['class', 'samples', 'FP32', 'INT8', 'change', 'FP32 predictions INT8 changed'] : ['class', 'FP32 predictions INT8 changed'];
  const total = rows.reduce((a, r) => a + r.fp32Predicted, 0);
  const flipped = rows.reduce((a, r) => a + r.flipped, 0);
  const lead =
    `${plural(total, 'evaluation sample')} in ${rows.length} ${rows.length === 1 ? 'class' : 'classes'}; INT8 predicts another class than FP32 for ${flipped} of them` +
    (labelled ? '. Accuracy per class is its recall: the share of the samples labelled with it that the model gets right.' : '; the evaluation set has no labels, so there is no accuracy per class.') +
    (shown.length < rows.length ? ` Showing the ${shown.length} classes INT8 changed most; report.json has all ${rows.length}.` : '');
  let matrices = '';
  const c = confusionOf(bench.metrics);
  if (c) {
    const fig = (id: string, title: string, counts: number[][], rowName: string, columnName: string, caption: string) =>
      `<figure class="matrix" id="${id}"><h3>${escapeHtml(title)}</h3><div class="chart-wrap">${confusionMatrixChart({ title, labels: c.labels, counts, rowName, columnName, width: 310 })}</div><figcaption class="caption">${escapeHtml(caption)}</figcaption></figure>`;
    const parts = [fig('confusion-int8-fp32', 'INT8 against FP32', c.int8VsFp32, 'FP32 predicts', 'INT8 predicts', 'Off the diagonal: the samples quantization moved to another class.')];
    if (c.fp32) parts.push(fig('confusion-fp32', 'FP32 against the labels', c.fp32, 'label', 'FP32 predicts', 'Off the diagonal: the mistakes the FP32 model already made.'));
    if (c.int8) parts.push(fig('confusion-int8', 'INT8 against the labels', c.int8, 'label', 'INT8 predicts', 'Off the diagonal: the INT8 model’s mistakes.'));
    matrices =
      `<h3>Confusion matrices</h3><div class="matrices">${parts.join('')}</div>` +
      `<p class="caption">Counts; the shade is the share of the row (<span style="color:${MATRIX_COLORS.diagonal}">green</span> on the diagonal, <span style="color:${MATRIX_COLORS.off}">red</span> off it), so a small class's confusions show as clearly as a large one's.</p>`;
  } else if (rows.length > 0) {
    matrices = `<p class="caption">No confusion matrices in the metrics: the bench step keeps them for up to 50 classes (this set has ${rows.length}).</p>`;
  }
  return section('classes', 'Accuracy by class', `<p class="muted">${escapeHtml(lead)}</p>${table(headers, body, 'numbers classes')}${matrices}`);
}

// ── Layers: sensitivity, and what stayed in float ───────────────────────────────────────────────

/** Every measured layer (sensitivity.json), or the 10 most sensitive the metrics keep. */
function sensitivityLayers(step: Step, extras: HtmlExtras | undefined): { layers: SensitivityLayer[]; all: boolean } | undefined {
  const fromFile = extras?.sensitivity?.layers;
  if (Array.isArray(fromFile) && fromFile.length && fromFile.every(isLayer)) return { layers: fromFile, all: true };
  const top = step.metrics.mostSensitive;
  if (Array.isArray(top) && top.length && top.every(isLayer)) return { layers: top as SensitivityLayer[], all: false };
  return undefined;
}

/** A chart with hundreds of layers is unreadable: the most sensitive ones are what matters. */
const MAX_LAYER_ROWS = 60;

function sensitivityChart(step: Step, extras: HtmlExtras | undefined): string {
  const found = sensitivityLayers(step, extras);
  if (!found) return '';
  const fallback = new Set(Array.isArray(step.metrics.fallback) ? (step.metrics.fallback as string[]) : []);
  const layers = found.layers.slice(0, MAX_LAYER_ROWS);
  // SQNR is +∞ where the layer's INT8 output is exact: drawn at the longest finite bar, written ∞.
  const finite = layers.map((l) => l.sqnrDb).filter(isNum);
  const cap = finite.length ? Math.max(...finite) : 1;
  const names = shortTensorNames(layers.map((l) => l.node));
  const chart = barListChart({
    title: 'Per-layer sensitivity: SQNR of the logits with only this layer in INT8',
    width: 960,
    rows: layers.map((l, i) => ({
      label: names[i]!,
      title: `${l.node} (${l.op}): SQNR ${isNum(l.sqnrDb) ? `${l.sqnrDb} dB` : '∞'}, agreement ${pct(l.agreement)}${fallback.has(l.node) ? ' — returned to float' : ''}`,
      value: isNum(l.sqnrDb) ? l.sqnrDb : cap,
      note: `${isNum(l.sqnrDb) ? `${l.sqnrDb.toFixed(1)} dB` : '∞ dB'} · agreement ${pct(l.agreement, 1)}`,
      highlight: fallback.has(l.node),
    })),
    axisLabel: 'SQNR (dB)',
    color: CHART_COLORS.layer,
    highlightColor: CHART_COLORS.fallback,
    colorName: 'INT8 in the output model',
    highlightName: 'returned to float',
  });
  const measured = isNum(step.metrics.quantizedNodes) ? (step.metrics.quantizedNodes as number) : found.layers.length;
  const shown = found.all ? (found.layers.length > layers.length ? `the ${layers.length} most sensitive of ${found.layers.length}` : `all ${found.layers.length}`) : `the ${layers.length} most sensitive of ${measured} (sensitivity.json, with every layer, is no longer in the cache)`;
  // Which rule chose the highlighted layers: a fixed budget (fallback: { layers: N }) or the target.
  const mode = step.metrics.fallbackMode;
  const chosen =
    typeof mode === 'string' && mode.startsWith('layers:')
      ? ` Highlighted: the ${plural(fallback.size, 'most sensitive layer')} returned to float by <code>fallback: { ${escapeHtml(mode)} }</code>.`
      : mode === 'target' && fallback.size
        ? ` Highlighted: the fewest most sensitive layers whose return to float meets the target (${plural(fallback.size, 'layer')}).`
        : '';
  return (
    `<h3>Sensitivity (step ${escapeHtml(step.id)})</h3><div class="chart-wrap">${chart}</div>` +
    `<p class="caption">Each quantized layer measured alone: a model with only that layer in INT8, its logits against FP32's on ${escapeHtml(plural(Number(step.metrics.samples) || 0, 'sample'))}. ` +
    `The signal-to-quantization-noise ratio (SQNR, higher is better) is lowest for the layers whose quantization costs most; they are listed first. Showing ${escapeHtml(shown)}.${chosen}</p>`
  );
}

export function layersSection(report: Report, extras: HtmlExtras | undefined): string {
  const done = report.steps.filter((s) => s.status === 'ran' || s.status === 'hit');
  const sensitivity = done.filter((s) => Array.isArray(s.metrics.mostSensitive) || Array.isArray(s.metrics.fallback)).pop();
  const placing = done.filter((s) => Array.isArray(s.metrics.skipped));
  if (!sensitivity && placing.length === 0) return '';
  const float = floatLayersOf(done);
  const quantized = placing.map((s) => s.metrics.quantizedNodes).filter(isNum).pop();
  const lead = float.length
    ? `${plural(float.length, 'node')} left in float${isNum(quantized) ? `; ${quantized - (sensitivity && Array.isArray(sensitivity.metrics.fallback) ? (sensitivity.metrics.fallback as unknown[]).length : 0)} quantized` : ''}.`
    : `None: every node the recipe selected for quantization is in INT8${isNum(quantized) ? ` (${plural(quantized, 'node')})` : ''}.`;
  const names = shortTensorNames(float.map((f) => f.node));
  const rows = float.map((f, i) => [td(`<code title="${escapeHtml(f.node)}">${escapeHtml(names[i])}</code>`), td(escapeHtml(f.step)), td(escapeHtml(f.reason))]);
  const body = (sensitivity ? sensitivityChart(sensitivity, extras) : '') + `<h3>Left in float</h3><p>${escapeHtml(lead)}</p>` + (rows.length ? table(['node', 'step', 'why'], rows) : '');
  return section('layers', 'Layers', body + '<p class="caption"><code>qrun inspect</code> on the run folder lists every node with its precision and calibrated ranges.</p>');
}

// ── Baseline ────────────────────────────────────────────────────────────────────────────────────

export function baselineSection(report: Report): string {
  const b = report.baseline;
  if (!b) return '';
  const title = `Baseline: ${b.regressions.length ? `${b.regressions.length} regressed` : 'no regression'}`;
  const lead = `<p>Compared with <code>${escapeHtml(b.file)}</code>: ${plural(b.compared, 'metric')}, ${b.regressions.length ? `${b.regressions.length} regressed` : 'no regression'}.</p>`;
  if (Array.isArray(b.metrics) && b.metrics.length) {
    const rows = b.metrics.map((m) => [
      td(escapeHtml(m.name)),
      td(escapeHtml(m.before), 'num'),
      td(escapeHtml(m.after), 'num'),
      td(escapeHtml(m.change), 'num'),
      td(m.regression ? '<span class="result fail">REGRESSION</span>' : escapeHtml(m.verdict)),
    ]);
    return section('baseline', title, lead + table(['metric', 'baseline', 'this run', 'change', 'verdict'], rows, 'baseline'));
  }
  // A report from before the comparison was kept whole: its regressions only.
  const rows = b.regressions.map((r) => [td(escapeHtml(r.name)), td(escapeHtml(r.change)), td('<span class="result fail">REGRESSION</span>')]);
  return section('baseline', title, lead + (rows.length ? table(['metric', 'change', 'result'], rows) : ''));
}
