// `qrun compare a/report.json b/report.json`: what changed between two runs (src/report/compare-reports.ts)
// as a table; a regression of b against a sets exit code 3 (CI's baseline check).
import { errors } from '../errors.ts';
import type { Output } from '../engine/output.ts';
import { compareReports, describeChange, readReport } from '../report/compare-reports.ts';
import { formatTable } from '../report/summary.ts';

export async function compareCommand(fileA: string | undefined, fileB: string | undefined, flags: { tolerance?: number; latencyTolerance?: number }, io: Output): Promise<number> {
  if (!fileA || !fileB) throw errors.usage('qrun compare needs two report.json files', 'qrun compare old/report.json new/report.json');
  const c = compareReports(await readReport(fileA), await readReport(fileB), flags);
  const section = (title: string, lines: string[]) => {
    io.out(`${title}: ${lines.length ? '' : 'none'}`);
    for (const l of lines) io.out(`  ${l}`);
  };
  io.out(`run status: ${c.status.before} → ${c.status.after}`);
  section('options changed', c.options);
  section('artifacts changed', c.artifacts);
  section('tool versions changed', c.tools);
  if (c.metrics.length) {
    io.out('');
    io.out(formatTable(['metric', 'before', 'after', 'change', ''], c.metrics.map((m) => [m.name, m.before, m.after, m.change, m.verdict])));
  }
  // A baseline that did not pass leaves nothing to regress from: say so rather than exit 0.
  if (!c.status.beforePassed) throw errors.baselineNotPassed(fileA, c.status.before);
  const regressions = c.metrics.filter((m) => m.regression);
  const rule = `accuracy: a drop over ${flags.tolerance ?? 0.02} absolute; latency: outside the noise and a ratio up over ${((flags.latencyTolerance ?? 0.2) * 100).toFixed(0)}%`;
  if (regressions.length) {
    io.out(`\n${regressions.length} regression(s) (${rule}): ${regressions.map(describeChange).join('; ')}`);
    return 3;
  }
  io.out(`\nno regression (${rule})`);
  return 0;
}
