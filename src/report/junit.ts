// JUnit XML for CI systems: one test case per step (failed → <failure>, skipped → <skipped>), per
// gate, and per baseline comparison, so a CI dashboard shows what broke without reading logs.
import type { Report } from './build-report.ts';
import { verdictOf } from './verdict.ts';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export interface JunitCase {
  classname: string;
  name: string;
  seconds: number;
  failure?: string;
  skipped?: string;
}

export function junitCases(report: Report, baseline: { name: string; regression: boolean; change: string }[] = []): JunitCase[] {
  const cases: JunitCase[] = report.steps.map((s) => ({
    classname: 'qrun.steps',
    name: `${s.id} (${s.plugin})`,
    seconds: s.durationMs / 1000,
    failure: s.status === 'failed' ? s.error ?? 'failed' : undefined,
    skipped: s.status === 'skipped' ? s.skipped?.reason ?? 'skipped' : s.status === 'not-run' ? 'not run' : undefined,
  }));
  for (const g of report.gates) {
    cases.push({ classname: 'qrun.gates', name: `${g.metric} ${g.op} ${g.value}`, seconds: 0, failure: g.pass ? undefined : `actual ${g.actual ?? 'missing'}`, skipped: g.notEvaluated ? 'step not run in this invocation' : undefined });
  }
  for (const b of baseline) cases.push({ classname: 'qrun.baseline', name: b.name, seconds: 0, failure: b.regression ? `regression: ${b.change}` : undefined });
  return cases;
}

export function renderJunit(report: Report, cases: JunitCase[]): string {
  const verdict = verdictOf(report);
  const failures = cases.filter((c) => c.failure).length;
  const skipped = cases.filter((c) => c.skipped).length;
  const suite = `qrun ${report.recipe.name}${report.recipe.variant ? ` [${report.recipe.variant.label}]` : ''}`;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="qrun" tests="${cases.length}" failures="${failures}" skipped="${skipped}" time="${(report.run.durationMs / 1000).toFixed(3)}">`,
    `  <testsuite name="${esc(suite)}" tests="${cases.length}" failures="${failures}" skipped="${skipped}" timestamp="${esc(report.run.startedAt)}" time="${(report.run.durationMs / 1000).toFixed(3)}">`,
    // The run's verdict, for a dashboard that shows suite properties (the cases say which step or gate).
    '    <properties>',
    `      <property name="qrun.status" value="${esc(verdict.status)}"/>`,
    `      <property name="qrun.verdict" value="${esc(`${verdict.label} — ${verdict.detail}`)}"/>`,
    '    </properties>',
  ];
  for (const c of cases) {
    const open = `    <testcase classname="${esc(c.classname)}" name="${esc(c.name)}" time="${c.seconds.toFixed(3)}"`;
    if (c.failure) lines.push(`${open}>`, `      <failure message="${esc(c.failure.split('\n')[0]!)}">${esc(c.failure)}</failure>`, '    </testcase>');
    else if (c.skipped) lines.push(`${open}>`, `      <skipped message="${esc(c.skipped)}"/>`, '    </testcase>');
    else lines.push(`${open}/>`);
  }
  lines.push('  </testsuite>', '</testsuites>', '');
  return lines.join('\n');
}
