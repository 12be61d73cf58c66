import type { Report } from './build-report.ts';
import { floatLayersOf } from './float-layers.ts';
import { classRowsOf, confusionOf, isLayer } from './review-data.ts';
import type { SensitivityLayer } from './html-extras.ts';
import { quantizedLabel, summaryRows } from './summary.ts';
import { formatWithInterval } from '../stats/noise.ts';
import { builtinMetricCatalog } from '../engine/builtin-metrics.ts';
import { roleValuesOf, stepWithRole, valueWithRole } from '../engine/metrics.ts';
import { verdictOf } from './verdict.ts';

const md = (s: string) => s.replace(/\|/g, '\\|');

export function renderMarkdown(report: Report): string {
  const out: string[] = [];
  const verdict = verdictOf(report);
  out.push(`# qrun report — ${report.recipe.name}`, '');
  // The verdict comes first: whoever opens the report learns whether the run passed before anything else.
  out.push(`**${verdict.mark} ${verdict.label}** — ${verdict.detail}`, '');
  out.push(`- recipe: \`${report.recipe.file}\` (sha256 \`${report.recipe.hash.slice(0, 16)}…\`)`);
  out.push(`- run: \`${report.run.id}\` · status \`${verdict.status}\` · ${(report.run.durationMs / 1000).toFixed(1)} s${report.run.resumedFrom ? ` · resumed after interrupted run \`${report.run.resumedFrom}\`` : ''}`);
  out.push(`- cache: ${report.cache.hits} hit, ${report.cache.ran} ran, ${report.cache.skipped} skipped, ${report.cache.failed} failed`);
  out.push(`- qrun ${report.qrun.version} · ${Object.entries(report.tools).map(([k, v]) => `${k} ${v}`).join(' · ')}`);
  out.push(`- machine: ${report.machine.cpu} × ${report.machine.cores}, ${report.machine.memoryGiB} GiB, ${report.machine.platform}-${report.machine.arch}`, '');
  if (report.run.error) out.push('## Error', '', '```', report.run.error, '```', '');
  const rows = summaryRows(report);
  if (rows.length) {
    const q = quantizedLabel(report);
    out.push(`## FP32 vs ${q}`, '', `| | FP32 | ${q} | change |`, '|---|---|---|---|');
    for (const r of rows) out.push(`| ${md(r.label)} | ${md(r.fp32)} | ${md(r.int8)} | ${md(r.change)} |`);
    out.push('');
  }
  if (report.gates.length) {
    out.push('## Gates', '', '| metric | condition | actual | result |', '|---|---|---|---|');
    for (const g of report.gates) out.push(`| ${g.metric} | ${g.op} ${g.value} | ${g.notEvaluated ? '—' : g.actual ?? 'missing'} | ${g.notEvaluated ? 'not evaluated' : g.pass ? 'pass' : '**FAIL**'} |`);
    out.push('');
  }
  out.push(...latencyMarkdown(report));
  if (report.baseline) {
    const b = report.baseline;
    out.push('## Baseline', '', `\`${b.file}\`: ${b.compared} metrics compared, ${b.regressions.length ? `${b.regressions.length} regressed` : 'no regression'}`, '');
    if (Array.isArray(b.metrics) && b.metrics.length) {
      // The whole comparison, as `qrun compare` prints it: what held matters as much as what regressed.
      out.push('| metric | baseline | this run | change | verdict |', '|---|---|---|---|---|');
      for (const m of b.metrics) out.push(`| ${md(m.name)} | ${md(m.before)} | ${md(m.after)} | ${md(m.change)} | ${m.regression ? '**REGRESSION**' : md(m.verdict)} |`);
      out.push('');
    } else {
      for (const r of b.regressions) out.push(`- **${md(r.name)}**: ${md(r.change)}`);
      if (b.regressions.length) out.push('');
    }
  }
  out.push(...classesMarkdown(report), ...layersMarkdown(report));
  out.push(...deliverablesMarkdown(report));
  out.push('## Steps', '', '| step | plugin | status | duration | cache key |', '|---|---|---|---|---|');
  for (const s of report.steps) {
    const status = s.status === 'skipped' ? `skipped: ${s.skipped?.reason}` : s.status === 'hit' ? 'cache hit' : s.status + (s.cacheNote ? ` (${s.cacheNote})` : '');
    out.push(`| ${s.id} | ${s.plugin}@${s.pluginVersion} | ${md(status)} | ${(s.durationMs / 1000).toFixed(2)} s | \`${s.key?.slice(0, 16) ?? ''}\` |`);
  }
  out.push('', '## Artifacts', '', '| step | output | kind | size | sha256 |', '|---|---|---|---|---|');
  for (const s of report.steps) {
    for (const [name, o] of Object.entries(s.outputs)) out.push(`| ${s.id} | ${name} | ${o.kind} | ${o.size} | \`${o.sha256}\` |`);
  }
  out.push('', '## Step metrics', '');
  for (const s of report.steps) {
    if (Object.keys(s.metrics).length === 0) continue;
    out.push(`### ${s.id}`, '', '```json', JSON.stringify(s.metrics, null, 2), '```', '');
  }
  return out.join('\n') + '\n';
}

/** Where the deliverables are (src/engine/deliverables.ts), relative to the recipe's folder. */
function deliverablesMarkdown(report: Report): string[] {
  const d = report.deliverables;
  if (!d) return [];
  if (!d.updated) {
    const holds = d.fromRun ? `still holds the deliverables of run \`${d.fromRun.id}\` (${d.fromRun.status})` : 'holds no deliverables';
    return ['## Deliverables: not updated', '', `\`${d.dir}/\` ${holds}; this run did not replace them: ${md(d.reason ?? '')}.`, ''];
  }
  const out = ['## Deliverables', ''];
  if (report.run.status !== 'passed') out.push(`**From a run that did not pass (${report.run.status}):** for debugging, not for shipping.`, '');
  out.push(`In \`${d.dir}/\` (paths relative to the recipe's folder); manifest.json there lists every file with its sha256.`, '', '| path | from | size | sha256 |', '|---|---|---|---|');
  for (const f of d.files) out.push(`| \`${md(f.path)}\` | ${md(f.from)} | ${f.size ?? ''} | ${f.sha256 ? `\`${f.sha256}\`` : f.files !== undefined ? `${f.files} files` : ''} |`);
  out.push('');
  if (d.missing.length) out.push(`Not delivered: ${d.missing.map((m) => `\`${m.from}\` (${md(m.reason)})`).join('; ')}.`, '');
  return out;
}

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const pct = (x: number | null | undefined, digits = 1) => (isNum(x) ? `${(x * 100).toFixed(digits)}%` : 'n/a');
const ms = (x: number) => (!isNum(x) ? 'n/a' : x < 1 ? `${(x * 1000).toFixed(0)} µs` : `${x.toFixed(2)} ms`);

/** p50/p90/p99 at every shape and INT8/FP32 with its 95% interval (the summary table has p50/p90). */
function latencyMarkdown(report: Report): string[] {
  // The latency table by the role its plugin declares (the bench's, built in), not by plugin name.
  const rows = valueWithRole(report.steps, builtinMetricCatalog, 'latency') as { batch: number; sequence: number; label?: string; fp32: { p50: number; p90: number; p99: number }; int8: { p50: number; p90: number; p99: number }; ratio: number; ratioInterval?: { low: number; high: number } }[] | undefined;
  if (!Array.isArray(rows) || rows.length === 0 || !rows.every((l) => isNum(l?.fp32?.p99) && isNum(l.int8?.p99) && isNum(l.ratio))) return [];
  const q = quantizedLabel(report);
  const out = ['## Latency', '', `| shape | FP32 p50 / p90 / p99 | ${q} p50 / p90 / p99 | ${q}/FP32 [95% interval] |`, '|---|---|---|---|'];
  const spread = (s: { p50: number; p90: number; p99: number }) => `${ms(s.p50)} / ${ms(s.p90)} / ${ms(s.p99)}`;
  // A row a task timed itself (text generation: a whole decode run) is named by its label.
  for (const l of rows) out.push(`| ${l.label ?? `${l.batch}×${l.sequence}`} | ${spread(l.fp32)} | ${spread(l.int8)} | ${formatWithInterval({ value: l.ratio, interval: l.ratioInterval }, 2, ' (one block: no noise estimate)')} |`);
  out.push('', `${q}/FP32 below 1 is faster; an interval that contains 1 is no measurable change.`, '');
  return out;
}

/** Confusion matrices wider than this are left to report.json and report.html. */
const MAX_MARKDOWN_MATRIX = 20;

/** The finished step that reports accuracy by class (by role: the bench, built in), its per-class and confusion metrics under the names review-data.ts reads. */
function classStep(report: Report): { metrics: Record<string, unknown> } | undefined {
  const found = stepWithRole(report.steps, builtinMetricCatalog, 'per-class', { finished: true });
  if (!found) return undefined;
  const r = roleValuesOf(found.step, builtinMetricCatalog);
  return { metrics: { ...found.step.metrics, perClass: r['per-class'], confusion: r.confusion } };
}

function classesMarkdown(report: Report): string[] {
  const step = classStep(report);
  const rows = step && classRowsOf(step.metrics);
  if (!step || !rows) return [];
  const labelled = rows.some((r) => r.samples !== null);
  const out = ['## Accuracy by class', ''];
  if (labelled) {
    out.push('| class | samples | FP32 | INT8 | change | FP32 predictions INT8 changed |', '|---|---|---|---|---|---|');
    for (const r of rows) {
      const change = isNum(r.fp32Accuracy) && isNum(r.int8Accuracy) ? `${r.int8Accuracy < r.fp32Accuracy ? '−' : '+'}${Math.abs((r.int8Accuracy - r.fp32Accuracy) * 100).toFixed(2)} pt` : '';
      out.push(`| ${md(r.class)} | ${r.samples ?? '—'} | ${pct(r.fp32Accuracy)} | ${pct(r.int8Accuracy)} | ${change} | ${r.flipped} of ${r.fp32Predicted} |`);
    }
  } else {
    out.push('The evaluation set has no labels: no accuracy per class.', '', '| class | FP32 predictions INT8 changed |', '|---|---|');
    for (const r of rows) out.push(`| ${md(r.class)} | ${r.flipped} of ${r.fp32Predicted} |`);
  }
  out.push('');
  const c = confusionOf(step.metrics);
  if (c && c.labels.length <= MAX_MARKDOWN_MATRIX) {
    out.push('INT8 against FP32 (rows: what FP32 predicts, columns: what INT8 predicts; off the diagonal, what quantization changed):', '');
    out.push(`| FP32 \\ INT8 | ${c.labels.map(md).join(' | ')} |`, `|---|${c.labels.map(() => '---').join('|')}|`);
    c.int8VsFp32.forEach((row, i) => out.push(`| **${md(c.labels[i]!)}** | ${row.map((v, j) => (i === j ? `**${v}**` : v ? String(v) : '·')).join(' | ')} |`));
    out.push('');
  }
  return out;
}

/** The most sensitive layers (the sensitivity step's metrics) and every node left in float, with why. */
function layersMarkdown(report: Report): string[] {
  const done = report.steps.filter((s) => s.status === 'ran' || s.status === 'hit');
  const sensitivity = done.filter((s) => Array.isArray(s.metrics.mostSensitive)).pop();
  const placing = done.some((s) => Array.isArray(s.metrics.skipped));
  if (!sensitivity && !placing) return [];
  const out = ['## Layers', ''];
  const top = sensitivity?.metrics.mostSensitive as SensitivityLayer[] | undefined;
  if (sensitivity && top && top.length && top.every(isLayer)) {
    const fallback = new Set(Array.isArray(sensitivity.metrics.fallback) ? (sensitivity.metrics.fallback as string[]) : []);
    out.push(`Most sensitive (step ${sensitivity.id}: each layer alone in INT8, its logits against FP32; lower SQNR costs more):`, '', '| node | op | SQNR | agreement | precision |', '|---|---|---|---|---|');
    for (const l of top) out.push(`| \`${md(l.node)}\` | ${md(l.op)} | ${isNum(l.sqnrDb) ? `${l.sqnrDb.toFixed(1)} dB` : '∞'} | ${pct(l.agreement, 2)} | ${fallback.has(l.node) ? 'float (fallback)' : 'INT8'} |`);
    out.push('');
  }
  const float = floatLayersOf(done);
  if (float.length === 0) out.push('Left in float: none; every node the recipe selected for quantization is in INT8.', '');
  else {
    out.push('Left in float:', '', '| node | step | why |', '|---|---|---|');
    for (const f of float) out.push(`| \`${md(f.node)}\` | ${md(f.step)} | ${md(f.reason)} |`);
    out.push('');
  }
  return out;
}
