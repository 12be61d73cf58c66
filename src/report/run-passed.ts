// Whether a report's run passed, read the same way by compare, --baseline and the matrix.
// report.json's run.status was 'ok' in reports written before the verdict was spelled out and is
// 'passed' since; anything else ('gates-failed', 'failed', 'interrupted', or a status a newer qrun
// invents) is a run that did not pass. Old reports said 'ok' even when a gate failed, so the gates
// are read too.
import type { Report } from './build-report.ts';

const PASSING_STATUS = new Set(['ok', 'passed']);

export function runPassed(r: Report): boolean {
  return PASSING_STATUS.has(String(r.run?.status)) && (r.gates ?? []).every((g) => g.pass || g.notEvaluated);
}

/** The status as written, with "but a gate failed" where an old report's 'ok' hides a failed gate. */
export function runStatusText(r: Report): string {
  const status = String(r.run?.status ?? 'unknown');
  return PASSING_STATUS.has(status) && !runPassed(r) ? `${status}, but a gate failed` : status;
}
