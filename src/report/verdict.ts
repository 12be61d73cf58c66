// The verdict: one line that says whether the run passed and, if not, why. It is the first thing
// the terminal summary prints after the steps' progress, the first line of report.md after its
// title, and the badge and sentence at the top of report.html, so nobody reads "ok" above a failed
// gate again.
import { runStatus, type Report, type RunStatus } from './build-report.ts';

export interface Verdict {
  status: RunStatus;
  /** PASSED, GATES FAILED, REGRESSED, FAILED, INTERRUPTED. */
  label: string;
  /** ✓ for a pass, ✗ for a failure, ⚠ for an interrupted run. */
  mark: string;
  /** Why, in one sentence: the failed gates, the regressions, the failed step, what was checked. */
  detail: string;
}

const LABEL: Record<RunStatus, string> = { passed: 'PASSED', 'gates-failed': 'GATES FAILED', regressed: 'REGRESSED', failed: 'FAILED', interrupted: 'INTERRUPTED' };
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const firstLine = (s: string | undefined) => s?.split('\n').find((l) => l.trim())?.trim();

/** The status a report stands for; a report from before the verdict ('ok' for any finished run) is judged by its gates. */
export function statusOf(report: Report): RunStatus {
  const s = report.run.status as string;
  if (s in LABEL) return s as RunStatus;
  return runStatus({ interrupted: false, failed: s !== 'ok', gates: report.gates ?? [] });
}

function gateFailures(report: Report): string {
  const evaluated = report.gates.filter((g) => !g.notEvaluated);
  const failed = evaluated.filter((g) => !g.pass);
  const list = failed.map((g) => `${g.metric} ${g.op} ${g.value} (${g.actual === null ? 'metric missing' : `actual ${Number(g.actual.toPrecision(6))}`})`);
  return `${failed.length} of ${plural(evaluated.length, 'gate')} failed: ${list.join('; ')}`;
}

function regressions(report: Report): string {
  const b = report.baseline;
  if (!b) return '';
  return `regressed against baseline ${b.file}: ${b.regressions.map((r) => `${r.name} ${r.change}`).join('; ')}`;
}

function passDetail(report: Report): string {
  const finished = report.steps.filter((s) => s.status === 'ran' || s.status === 'hit').length;
  const skipped = report.steps.filter((s) => s.status === 'skipped').length;
  const notRun = report.steps.filter((s) => s.status === 'not-run').length;
  const steps = `${plural(finished, 'step')} finished${skipped ? `, ${skipped} skipped` : ''}${notRun ? `, ${notRun} not run (--until/--only)` : ''}`;
  const evaluated = report.gates.filter((g) => !g.notEvaluated).length;
  const notEvaluated = report.gates.length - evaluated;
  const gates =
    report.gates.length === 0
      ? 'the recipe sets no gates'
      : evaluated === report.gates.length
        ? evaluated === 1
          ? 'the 1 gate passes'
          : `all ${evaluated} gates pass`
        : `${plural(evaluated, 'gate')} pass, ${notEvaluated} not evaluated (their steps did not run)`;
  const baseline = report.baseline ? `; no regression against baseline ${report.baseline.file} (${plural(report.baseline.compared, 'metric')} compared)` : '';
  return `${steps}; ${gates}${baseline}`;
}

export function verdictOf(report: Report): Verdict {
  const status = statusOf(report);
  const failedStep = report.steps.find((s) => s.status === 'failed');
  let detail: string;
  switch (status) {
    case 'passed':
      detail = passDetail(report);
      break;
    case 'gates-failed':
      detail = [gateFailures(report), report.baseline?.regressions.length ? regressions(report) : ''].filter(Boolean).join('; ');
      break;
    case 'regressed':
      detail = `${regressions(report)}${report.gates.length ? ' (every gate passed)' : ''}`;
      break;
    case 'failed':
      detail = firstLine(report.run.error) ?? (failedStep ? `step "${failedStep.id}" (${failedStep.plugin}) failed` : 'the run did not finish');
      break;
    case 'interrupted':
      detail =
        `stopped by ${report.run.signal ?? 'a signal'}${failedStep ? ` during step "${failedStep.id}"` : ''}; ` +
        'finished steps are cached and the next run starts at the first unfinished one';
      break;
  }
  return { status, label: LABEL[status], mark: status === 'passed' ? '✓' : status === 'interrupted' ? '⚠' : '✗', detail };
}

/** The verdict as one line of text: `✗ GATES FAILED — 1 of 2 gates failed: …`. */
export function verdictLine(report: Report): string {
  const v = verdictOf(report);
  return `${v.mark} ${v.label} — ${v.detail}`;
}
