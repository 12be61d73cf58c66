import type { Report } from './build-report.ts';
import { summaryRows } from './summary.ts';
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
    out.push('## FP32 vs INT8', '', '| | FP32 | INT8 | change |', '|---|---|---|---|');
    for (const r of rows) out.push(`| ${md(r.label)} | ${md(r.fp32)} | ${md(r.int8)} | ${md(r.change)} |`);
    out.push('');
  }
  if (report.gates.length) {
    out.push('## Gates', '', '| metric | condition | actual | result |', '|---|---|---|---|');
    for (const g of report.gates) out.push(`| ${g.metric} | ${g.op} ${g.value} | ${g.notEvaluated ? '—' : g.actual ?? 'missing'} | ${g.notEvaluated ? 'not evaluated' : g.pass ? 'pass' : '**FAIL**'} |`);
    out.push('');
  }
  if (report.baseline) {
    const b = report.baseline;
    out.push('## Baseline', '', `\`${b.file}\`: ${b.compared} metrics compared, ${b.regressions.length ? `${b.regressions.length} regressed` : 'no regression'}`, '');
    for (const r of b.regressions) out.push(`- **${md(r.name)}**: ${md(r.change)}`);
    if (b.regressions.length) out.push('');
  }
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
