// report.html: the run report as one self-contained page (inline CSS and SVG, no script, no
// network, no web fonts), so it can be mailed, archived with the artifacts, opened offline and
// printed. It shows the same data as report.md, plus charts. Every piece of text from the report
// (recipe name, step ids, error messages, tensor names) goes through `escapeHtml`.
import { builtinMetricCatalog } from '../engine/builtin-metrics.ts';
import type { LatencyRow } from '../engine/metric-shapes.ts';
import { roleValuesOf, stepWithRole, type MetricCatalog } from '../engine/metrics.ts';
import type { Report } from './build-report.ts';
import { escapeHtml, formatBytes, formatDuration, rangeBarChart, STATUS_STYLE, timelineChart, type TimelineStatus } from './charts.ts';
import { CHART_COLORS, exact, fixed, isNum, pct, plural, section, shortHash, table, td, times } from './html-parts.ts';
import { baselineSection, classSection, latencyFigure, layersSection } from './html-review.ts';
import type { CalibrationTensor, HtmlExtras } from './html-extras.ts';
import { isKnownRangeRule } from '../quant/known-ranges.ts';
import { quantizedLabel, summaryRows } from './summary.ts';
import { shortTensorNames } from './tensor-names.ts';
import { verdictOf } from './verdict.ts';
import { TASK_SUMMARY_LABELS } from '../tasks/metrics.ts';
import type { TaskName } from '../tasks/task.ts';

export { escapeHtml } from './charts.ts';
export { shortTensorNames } from './tensor-names.ts';
export { calibrationStatsPath, readHtmlExtras, type CalibrationTensor, type HtmlExtras } from './html-extras.ts';
export { CHART_COLORS } from './html-parts.ts';

/** A calibration chart with hundreds of rows is unreadable: show the tensors clipped most. */
const MAX_TENSOR_ROWS = 80;

type Step = Report['steps'][number];

interface BenchMetrics {
  agreement: number;
  fp32Accuracy: number | null;
  int8Accuracy: number | null;
  accuracyDrop: number | null;
  maxAbsError: number;
  meanCosine: number;
  minCosine?: number;
  sizes: { fp32: number; int8: number };
  latency: LatencyRow[];
  speedup?: number;
  speedupInterval?: { low: number; high: number };
}



// The step summaryRows reads, with the fields it needs present (a report from an older bench
// plugin, or a hand-edited one, renders without the section instead of throwing).
// The step is the one whose plugin declares the agreement role (src/engine/metrics.ts; the bench, built in),
// its numbers read by role, so a plugin that names them otherwise renders the same section.
function benchOf(report: Report, catalog: MetricCatalog = builtinMetricCatalog): { step: Step; metrics?: BenchMetrics } | undefined {
  const step = (stepWithRole(report.steps, catalog, 'agreement', { finished: true }) ?? stepWithRole(report.steps, catalog, 'agreement'))?.step;
  if (!step) return undefined;
  const r = roleValuesOf(step, catalog);
  const m = {
    ...step.metrics,
    agreement: r.agreement,
    fp32Accuracy: r['reference-accuracy'],
    int8Accuracy: r.accuracy,
    accuracyDrop: r['accuracy-drop'],
    maxAbsError: r['max-abs-error'],
    meanCosine: r['mean-cosine'],
    minCosine: r['min-cosine'],
    sizes: r.sizes,
    latency: r.latency,
    speedup: r.speedup,
    speedupInterval: r['speedup-interval'],
    perClass: r['per-class'],
    confusion: r.confusion,
  } as Partial<BenchMetrics>;
  const usable = (step.status === 'ran' || step.status === 'hit') && typeof m.agreement === 'number' && typeof m.maxAbsError === 'number' && typeof m.meanCosine === 'number' && typeof m.sizes?.fp32 === 'number' && typeof m.sizes.int8 === 'number' &&
    Array.isArray(m.latency) &&
    m.latency.every((l) => isNum(l?.speedup) && isNum(l.fp32?.p50) && isNum(l.fp32.p90) && isNum(l.int8?.p50) && isNum(l.int8.p90));
  return { step, metrics: usable ? (m as BenchMetrics) : undefined };
}

const utc = (iso: string) => iso.replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC');
const statusOf = (s: Step): TimelineStatus => (s.status in STATUS_STYLE ? s.status : 'not-run');

export function cacheSummary(cache: Report['cache']): string {
  return `${plural(cache.hits, 'cache hit')}, ${cache.ran} ran, ${cache.skipped} skipped${cache.failed ? `, ${cache.failed} failed` : ''}`;
}

function chip(status: TimelineStatus): string {
  const s = STATUS_STYLE[status];
  const fg = status === 'ran' || status === 'failed' ? '#fff' : '#1f2937';
  return `<span class="chip" style="background:${s.fill};border-color:${s.stroke};color:${fg}">${escapeHtml(s.label)}</span>`;
}

function header(report: Report): string {
  const { run, machine } = report;
  const versions = [`qrun ${report.qrun.version}`, ...Object.entries(report.tools).map(([k, v]) => `${k} ${v}`)].join(' · ');
  const meta: [string, string][] = [
    ['Run', `<code>${escapeHtml(run.id)}</code>${run.resumedFrom ? ` · resumed after interrupted run <code>${escapeHtml(run.resumedFrom)}</code>` : ''}`],
    ['Started', escapeHtml(utc(run.startedAt))],
    ['Duration', escapeHtml(formatDuration(run.durationMs))],
    ['Cache', `${escapeHtml(cacheSummary(report.cache))} · <code>${escapeHtml(report.cache.root)}</code>`],
    ['Recipe', `<code>${escapeHtml(report.recipe.file)}</code> · sha256 ${shortHash(report.recipe.hash, 16)}`],
    ['Versions', escapeHtml(versions)],
    ['Machine', escapeHtml(`${machine.cpu} × ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.platform}-${machine.arch} ${machine.release}`)],
  ];
  // The verdict is the first thing on the page: a badge in its colour beside the name, and why.
  const verdict = verdictOf(report);
  return (
    `<header><p class="kicker">qrun report</p><div class="title"><h1>${escapeHtml(report.recipe.name)}</h1>` +
    `<span class="badge ${verdict.status}" title="run status: ${verdict.status}">${escapeHtml(verdict.label.toLowerCase())}</span></div>` +
    `<p class="verdict ${verdict.status}"><strong>${escapeHtml(`${verdict.mark} ${verdict.label}`)}</strong> — ${escapeHtml(verdict.detail)}</p>` +
    `<dl class="meta">${meta.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl></header>`
  );
}

function errors(report: Report): string {
  const failedSteps = report.steps.filter((s) => s.status === 'failed' && s.error);
  const status = verdictOf(report).status;
  if (!report.run.error && failedSteps.length === 0 && status !== 'failed' && status !== 'interrupted') return '';
  const title = status === 'interrupted' ? 'Run interrupted' : status === 'failed' ? 'Run failed' : 'Errors';
  const parts: string[] = [];
  if (report.run.error) parts.push(`<pre class="error">${escapeHtml(report.run.error)}</pre>`);
  for (const s of failedSteps) {
    if (report.run.error?.includes(s.error!)) continue;
    parts.push(`<p>Step <strong>${escapeHtml(s.id)}</strong> (${escapeHtml(s.plugin)}) failed:</p><pre class="error">${escapeHtml(s.error)}</pre>`);
  }
  if (status === 'interrupted') parts.push('<p>The next <code>qrun</code> of this recipe resumes at the first unfinished step.</p>');
  if (parts.length === 0) parts.push('<p>No error message was recorded; see the steps below.</p>');
  return section('errors', title, parts.join(''), `alert ${status}`);
}

function card(label: string, value: string, sub: string): string {
  return `<div class="card"><div class="label">${escapeHtml(label)}</div><div class="value">${escapeHtml(value)}</div><div class="sub">${escapeHtml(sub)}</div></div>`;
}

function summary(report: Report, bench: { step: Step; metrics?: BenchMetrics }): string {
  const m = bench.metrics;
  if (!m) {
    const why = { failed: 'failed', skipped: 'was skipped', 'not-run': 'did not run' }[bench.step.status as string] ?? 'recorded no usable numbers';
    return section('summary', 'FP32 vs INT8', `<p class="muted">No FP32-vs-INT8 numbers: the bench step <strong>${escapeHtml(bench.step.id)}</strong> ${why}.</p>`);
  }
  const drop = isNum(m.accuracyDrop) ? `${m.accuracyDrop > 0 ? '−' : '+'}${Math.abs(m.accuracyDrop * 100).toFixed(2)} pt` : '';
  const speedup = isNum(m.speedup) ? m.speedup : undefined;
  // A task scored by its own measures (embeddings: recall@10, paraphrase retrieval) names them.
  const task = TASK_SUMMARY_LABELS[(m as { task?: string }).task as TaskName];
  const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
  const cards = [
    // A task with no score against gold (text generation: perplexity is a row of the table) has no such card.
    task && !task.accuracy ? '' : card(task ? `${cap(task.accuracy)} (INT8)` : 'Label accuracy (INT8)', pct(m.int8Accuracy), isNum(m.fp32Accuracy) ? `FP32 ${pct(m.fp32Accuracy)} · ${drop}` : 'the evaluation set has no labels'),
    card(task ? cap(task.agreement) : 'Agreement with FP32', pct(m.agreement), task ? 'INT8 measured against the FP32 model' : 'same top label as the FP32 model'),
    card(task ? cap(task.error) : 'Max |Δ logit|', fixed(m.maxAbsError, 4), `cosine mean ${fixed(m.meanCosine, 6)}${isNum(m.minCosine) ? ` · min ${fixed(m.minCosine, 5)}` : ''}`),
    card('Model size (INT8)', formatBytes(m.sizes.int8), `FP32 ${formatBytes(m.sizes.fp32)} · ${times(m.sizes.fp32 > 0 ? m.sizes.int8 / m.sizes.fp32 : null)}`),
    card('Speed-up (geo. mean)', times(speedup), `FP32 ÷ INT8 latency over ${plural(m.latency.length, 'shape')}${isNum(m.speedupInterval?.low) && isNum(m.speedupInterval?.high) ? ` · 95% ${m.speedupInterval.low.toFixed(2)}–${m.speedupInterval.high.toFixed(2)}×` : ''}`),
  ];
  const rows = summaryRows(report).map((r) => [td(escapeHtml(r.label)), td(escapeHtml(r.fp32), 'num'), td(escapeHtml(r.int8), 'num'), td(escapeHtml(r.change), 'num')]);
  const q = quantizedLabel(report);
  return section('summary', `FP32 vs ${q}`, `<div class="cards">${cards.filter(Boolean).join('')}</div>${latencyFigure(m.latency)}<h3>All numbers</h3>${table(['', 'FP32', q, 'change'], rows, 'numbers')}`);
}

function calibration(report: Report, extras: HtmlExtras | undefined): string {
  const all = extras?.calibration?.tensors;
  if (!Array.isArray(all) || all.length === 0) return '';
  const absMax = (t: CalibrationTensor) => Math.max(Math.abs(t.min), Math.abs(t.max));
  // The share of the largest |value| seen that lies beyond the threshold: how much of the observed
  // range INT8 gives up. Not how many values saturate (`saturated`, from the histogram, says that).
  const clippedOf = (t: CalibrationTensor) => {
    if (isKnownRangeRule(t.rangeFrom)) return 0;
    const a = absMax(t);
    return a > 0 && Number.isFinite(a) ? Math.max(0, 1 - Math.abs(t.threshold) / a) : 0;
  };
  const saturation = (t: CalibrationTensor) => (isNum(t.saturated) ? ` · ${saturatedText(t.saturated)} saturated` : '');
  let tensors = all;
  if (all.length > MAX_TENSOR_ROWS) {
    const keep = new Set([...all].sort((a, b) => clippedOf(b) - clippedOf(a)).slice(0, MAX_TENSOR_ROWS));
    tensors = all.filter((t) => keep.has(t));
  }
  const labels = shortTensorNames(tensors.map((t) => String(t.tensor)));
  const chart = rangeBarChart({
    title: 'Calibration: observed |max| and chosen threshold per activation tensor',
    width: 960,
    rows: tensors.map((t, i) => ({
      label: labels[i]!,
      title: `${t.tensor}: min ${exact(t.min)}, max ${exact(t.max)}, threshold ${exact(t.threshold)}${isNum(t.saturated) ? `, ${saturatedText(t.saturated)} of calibration values beyond it` : ''}${t.rangeFrom ? `, from ${t.rangeFrom}` : ''}${isNum(t.raisedFrom) ? ` (the method chose ${exact(t.raisedFrom)}; raised to the threshold of least error in the consuming layer's output: cutting further only adds to it)` : ''}${t.shift !== undefined ? `; centred before quantizing (${typeof t.shift === 'number' ? `minus ${exact(t.shift)}` : t.shift}): min, max and threshold are the centred values'` : ''}`,
      value: absMax(t),
      marker: Math.abs(t.threshold),
      // A range the op guarantees (Softmax's [0, 1]) is not a cut the method chose: say which it is.
      // method auto: which candidate the tensor got; a raised cut: that the consumer-error bound raised it.
      note: isKnownRangeRule(t.rangeFrom)
        ? `known range: ${t.rangeFrom}${t.shift !== undefined ? ' · centred' : ''}`
        : `${t.shift !== undefined ? 'centred · ' : ''}${typeof t.rangeFrom === 'string' && t.rangeFrom.startsWith('auto: ') ? `${t.rangeFrom} · ` : ''}range cut ${(clippedOf(t) * 100).toFixed(1)}%${saturation(t)}${isNum(t.raisedFrom) ? ' · raised' : ''}`,
    })),
    valueName: 'largest |value| seen',
    markerName: 'threshold (kept range)',
    valueColor: CHART_COLORS.observed,
    markerColor: CHART_COLORS.kept,
    axisLabel: '|activation|',
    noteWidth: all.some((t) => isNum(t.raisedFrom) || String(t.rangeFrom ?? '').startsWith('auto: ')) ? 380 : all.some((t) => isNum(t.saturated)) ? 250 : 110,
  });
  const found = stepWithRole(report.steps, builtinMetricCatalog, 'calibration-method');
  const r = found ? roleValuesOf(found.step, builtinMetricCatalog) : {};
  const facts = [r['calibration-method'], isNum(r.samples) ? `${r.samples} samples` : undefined].filter((x) => typeof x === 'string');
  const lead = `${plural(all.length, 'activation tensor')}${facts.length ? ` · ${facts.join(' · ')}` : ''}${all.length > tensors.length ? ` · showing the ${tensors.length} with the most range cut` : ''}`;
  return section(
    'calibration',
    'Calibration ranges',
    `<p class="muted">${escapeHtml(lead)}</p><div class="chart-wrap">${chart}</div>` +
      '<p class="caption">The pale bar is the largest |value| calibration saw; the solid bar is the range INT8 keeps, up to the threshold. ' +
      '"Range cut" is the share of that largest |value| beyond the threshold; "saturated" is the share of calibration values beyond it, which quantize to the largest INT8 code. ' +
      'A percentile threshold cuts the range of a few outliers (a large range cut, a tiny share saturated) for finer steps for all other values. ' +
      'Outputs of Softmax, Sigmoid and Tanh keep the range the operator guarantees ("known range"), whatever the method. ' +
      '"Centred" tensors had a centre subtracted before quantizing (calibrate option shift: each channel\'s midpoint, folded back into the next layer\'s bias; Softmax outputs minus 0.5), so their range is the centred values\' and their int8 step is finer. ' +
      'With method auto each tensor names the candidate it got ("auto: mse"): the one whose range gives the consuming layer\'s output the least error. ' +
      '"Raised" marks a cut the method chose below the threshold of least error in that output, where cutting further only adds error: it is raised to that threshold.</p>',
  );
}

/** A small share readably: "0.0100%", "1.2%", "0%". */
function saturatedText(x: number): string {
  if (x <= 0) return '0%';
  const p = x * 100;
  return p >= 1 ? `${p.toFixed(1)}%` : `${Number(p.toPrecision(2))}%`;
}

function stepNotes(s: Step): string {
  if (s.status === 'skipped' && s.skipped) return `${escapeHtml(s.skipped.reason)}${s.skipped.fix ? `<div class="fix"><strong>fix:</strong> ${escapeHtml(s.skipped.fix)}</div>` : ''}`;
  if (s.status === 'failed' && s.error) return `<pre class="error">${escapeHtml(s.error)}</pre>`;
  return s.cacheNote ? escapeHtml(s.cacheNote) : '';
}

function steps(report: Report): string {
  const chart = timelineChart({
    title: 'Step timeline',
    width: 960,
    rows: report.steps.map((s) => ({ label: s.id, status: statusOf(s), durationMs: s.durationMs, tag: s.key?.slice(0, 12), title: `${s.id} (${s.plugin}): ${STATUS_STYLE[statusOf(s)].label}, ${formatDuration(s.durationMs)}` })),
  });
  const rows = report.steps.map((s) => [
    td(`<strong>${escapeHtml(s.id)}</strong>`, 'id'),
    td(escapeHtml(`${s.plugin}@${s.pluginVersion}`)),
    td(chip(statusOf(s))),
    td(s.status === 'not-run' ? '—' : escapeHtml(formatDuration(s.durationMs)), 'num'),
    td(shortHash(s.key, 12)),
    td(stepNotes(s), 'notes'),
  ]);
  return section('steps', 'Steps', `<div class="chart-wrap">${chart}</div>${table(['step', 'plugin', 'status', 'duration', 'cache key', 'notes'], rows)}`);
}

function gates(report: Report): string {
  if (report.gates.length === 0) return section('gates', 'Gates', '<p class="muted">The recipe sets no gates.</p>');
  const rows = report.gates.map((g) => [
    td(`<code>${escapeHtml(g.metric)}</code>`),
    td(escapeHtml(`${g.op} ${exact(g.value)}`)),
    td(escapeHtml(g.actual === null ? 'missing' : isNum(g.actual) ? String(Number(g.actual.toPrecision(6))) : 'n/a'), 'num'),
    td(g.notEvaluated ? 'not evaluated' : `<span class="result ${g.pass ? 'pass' : 'fail'}">${g.pass ? 'pass' : 'FAIL'}</span>`),
  ]);
  const failed = report.gates.filter((g) => !g.pass).length;
  return section('gates', `Gates: ${failed ? `${failed} of ${report.gates.length} failed` : 'all pass'}`, table(['metric', 'condition', 'actual', 'result'], rows));
}

/** The deliverables folder (src/engine/deliverables.ts), paths relative to the recipe's folder and in sight. */
function deliverables(report: Report): string {
  const d = report.deliverables;
  if (!d) return '';
  const where = `<code>${escapeHtml(d.dir)}/</code>`;
  if (!d.updated) {
    const holds = d.fromRun ? `still holds the deliverables of run <code>${escapeHtml(d.fromRun.id)}</code> (${escapeHtml(d.fromRun.status)})` : 'holds no deliverables';
    return section('deliverables', 'Deliverables: not updated', `<p>${where} ${holds}; this run did not replace them: ${escapeHtml(d.reason ?? '')}.</p>`);
  }
  const rows = d.files.map((f) => [
    td(`<code>${escapeHtml(f.path)}</code>`),
    td(escapeHtml(f.from)),
    td(f.size === undefined ? '' : escapeHtml(formatBytes(f.size)), 'num'),
    td(f.sha256 ? shortHash(f.sha256, 16) : f.files !== undefined ? plural(f.files, 'file') : ''),
  ]);
  const unsafe = report.run.status === 'passed' ? '' : `<p><strong>From a run that did not pass (${escapeHtml(report.run.status)}):</strong> for debugging, not for shipping.</p>`;
  const missing = d.missing.length ? `<p>Not delivered: ${d.missing.map((m) => `<code>${escapeHtml(m.from)}</code> (${escapeHtml(m.reason)})`).join('; ')}.</p>` : '';
  return section(
    'deliverables',
    'Deliverables',
    `${unsafe}${table(['path', 'from', 'size', 'sha256'], rows)}${missing}<p class="caption">Copied out of the cache into ${where} (paths relative to the recipe's folder); its manifest.json lists every file with its sha256.</p>`,
  );
}

function artifacts(report: Report): string {
  const rows = report.steps.flatMap((s) =>
    Object.entries(s.outputs).map(([name, o]) => [td(escapeHtml(s.id)), td(`<span title="${escapeHtml(o.path)}">${escapeHtml(name)}</span>`), td(escapeHtml(o.kind)), td(escapeHtml(formatBytes(o.size)), 'num'), td(shortHash(o.sha256, 16))]),
  );
  const body = rows.length ? table(['step', 'output', 'kind', 'size', 'sha256'], rows) : '<p class="muted">No artifacts.</p>';
  return section('artifacts', 'Artifacts', `${body}<p class="caption">Paths (in the tooltip of each output) are relative to the cache folder <code>${escapeHtml(report.cache.root)}</code>.</p>`);
}

function recipeAndMetrics(report: Report): string {
  const metrics = report.steps.filter((s) => Object.keys(s.metrics).length > 0).map((s) => `<h3>${escapeHtml(s.id)}</h3><pre class="json">${escapeHtml(JSON.stringify(s.metrics, null, 2))}</pre>`);
  return section(
    'details',
    'Recipe and step metrics',
    `<details id="recipe"><summary>Resolved recipe (JSON)</summary><pre class="json">${escapeHtml(JSON.stringify(report.recipe.resolved, null, 2))}</pre></details>` +
      (metrics.length ? `<details id="metrics"><summary>Step metrics (JSON)</summary>${metrics.join('')}</details>` : ''),
  );
}

const CSS = `
:root{color-scheme:light;--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb}
*{box-sizing:border-box}
body{margin:0;background:#f3f4f6;color:var(--ink);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","Liberation Sans",sans-serif}
main{max-width:1100px;margin:0 auto;padding:28px 32px 48px}
header{margin-bottom:8px}
.kicker{margin:0;color:var(--muted);font-size:13px;text-transform:uppercase;letter-spacing:.08em}
.title{display:flex;align-items:center;gap:14px;flex-wrap:wrap}
h1{font-size:28px;margin:2px 0;overflow-wrap:anywhere}
h2{font-size:19px;margin:0 0 14px}
h3{font-size:15px;margin:22px 0 8px}
.badge{padding:3px 12px;border-radius:999px;font-weight:700;font-size:13px;text-transform:uppercase;letter-spacing:.05em}
.badge.passed{background:#dcfce7;color:#166534}.badge.failed,.badge.gates-failed,.badge.regressed{background:#fee2e2;color:#991b1b}.badge.interrupted{background:#fef3c7;color:#92400e}
.verdict{margin:8px 0 0;padding:8px 12px;border-radius:8px;border:1px solid;font-size:15px}
.verdict.passed{background:#f0fdf4;border-color:#86efac;color:#14532d}.verdict.failed,.verdict.gates-failed,.verdict.regressed{background:#fef2f2;border-color:#fca5a5;color:#7f1d1d}.verdict.interrupted{background:#fffbeb;border-color:#fcd34d;color:#78350f}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:3px 18px;margin:14px 0 0;font-size:14px}
.meta dt{color:var(--muted)}.meta dd{margin:0;overflow-wrap:anywhere}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:20px 24px;margin:16px 0}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono","Liberation Mono",monospace;font-size:13px}
.muted,.caption{color:var(--muted)}
.caption{font-size:13px;margin:8px 0 0;max-width:880px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(185px,1fr));gap:12px}
.card{border:1px solid var(--line);border-radius:8px;padding:12px 14px;background:#fafafa}
.card .label{font-size:13px;color:var(--muted)}
.card .value{font-size:26px;font-weight:650;line-height:1.25;margin:2px 0;font-variant-numeric:tabular-nums}
.card .sub{font-size:13px;color:var(--muted)}
figure{margin:0}
.chart-wrap{overflow-x:auto}
.chart-wrap svg{display:block;max-width:100%;height:auto}
td.id{white-space:nowrap}
.matrices{display:flex;flex-wrap:wrap;gap:8px 24px;align-items:flex-start}
.matrices figure{flex:0 0 310px;max-width:100%}
td[data-worse]{background:#fef2f2}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:14px;margin-top:10px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:13px;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.numbers{max-width:760px}
td.notes{min-width:240px;max-width:520px;overflow-wrap:anywhere}
td pre{margin:0}
.fix{margin-top:4px;color:#374151}
.chip{display:inline-block;padding:0 8px;border:1px solid;border-radius:999px;font-size:12px;white-space:nowrap}
.result{font-weight:700}.result.pass{color:#166534}.result.fail{color:#b91c1c}
.alert{border:2px solid #f87171;background:#fef2f2}.alert.interrupted{border-color:#fbbf24;background:#fffbeb}
.alert h2{color:#991b1b}.alert.interrupted h2{color:#92400e}
pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:8px 0}
pre.error{background:#fff;border:1px solid #fecaca;border-radius:6px;padding:10px 12px;color:#7f1d1d}
pre.json{background:#f9fafb;border:1px solid var(--line);border-radius:6px;padding:10px 12px}
details summary{cursor:pointer;font-weight:600;margin:6px 0}
footer{color:var(--muted);font-size:13px;text-align:center}
@media (max-width:640px){main{padding:14px 10px}.chart-wrap svg{min-width:calc(var(--w) * .75)}section{padding:14px 12px}.meta{grid-template-columns:1fr}.meta dt{margin-top:6px}h1{font-size:22px}.card .value{font-size:22px}}
@media print{body{background:#fff}main{max-width:none;padding:0}section{border-color:#d1d5db}figure,.card,tr{break-inside:avoid}*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
`;

/**
 * The whole report as one HTML page. `extras.calibration` (the calibrate step's calibration.json,
 * see `calibrationStatsPath`) adds the calibration chart; without it that section is left out.
 * The same input always gives the same output.
 */
export function renderHtml(report: Report, extras?: HtmlExtras): string {
  const bench = benchOf(report);
  const body = [
    header(report),
    errors(report),
    bench ? summary(report, bench) : '',
    baselineSection(report),
    classSection(bench?.step),
    layersSection(report, extras),
    calibration(report, extras),
    steps(report),
    gates(report),
    deliverables(report),
    artifacts(report),
    recipeAndMetrics(report),
  ];
  return (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    // Nothing on the page loads or runs anything; say so, so an escaping slip cannot become a script.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">` +
    `<title>${escapeHtml(`${report.recipe.name} · ${verdictOf(report).label.toLowerCase()} · qrun report`)}</title>` +
    `<style>${CSS}</style></head><body><main>${body.join('\n')}` +
    `<footer>qrun ${escapeHtml(report.qrun.version)} · report schema ${escapeHtml(report.schemaVersion)} · run ${escapeHtml(report.run.id)}</footer>` +
    '</main></body></html>\n'
  );
}
