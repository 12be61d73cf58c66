// The verdict — passed, gates failed, regressed, failed, interrupted — is the first thing every
// output says, through the real CLI: the first line of the terminal summary after the steps'
// progress, report.md's first line after its title, report.html's badge (in its colour), and
// report.json's run.status. A gate that fails must never sit under "status ok" again.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readJournal } from '../../src/engine/journal.ts';
import type { Report } from '../../src/report/build-report.ts';
import { qrun, REPO, tempDir } from '../helpers/cli.ts';
import { latestReport } from '../helpers/report.ts';

const COUNTER = join(REPO, 'tests/fixtures/plugins/counter');

function recipe(dir: string, opts: { gates?: string; behaviour?: string } = {}): string {
  const file = join(dir, 'recipe.yaml');
  writeFileSync(
    file,
    `name: verdict
steps:
  - { id: first, uses: ${COUNTER}, with: { counterFile: ${join(dir, 'n.log')}, value: one } }
  - { id: second, uses: ${COUNTER}, with: { counterFile: ${join(dir, 'n.log')}, value: two, behaviour: ${opts.behaviour ?? 'ok'} } }
${opts.gates ?? ''}`,
  );
  return file;
}

/** The first non-blank line after the steps' progress (listr's plain lines start with ❯ ✔ ✖ ↓). */
function firstLineAfterProgress(stdout: string): string | undefined {
  const lines = stdout.split('\n');
  let last = -1;
  lines.forEach((l, i) => {
    if (/^\s*[❯✔✖↓]/.test(l)) last = i;
  });
  return lines.slice(last + 1).find((l) => l.trim() !== '');
}

/** report.md's first non-blank line after its `# ` title. */
function firstLineAfterTitle(md: string): string | undefined {
  const lines = md.split('\n');
  return lines.slice(lines.findIndex((l) => l.startsWith('# ')) + 1).find((l) => l.trim() !== '');
}

const badgeOf = (html: string) => /<span class="badge ([\w-]+)"[^>]*>([^<]*)<\/span>/.exec(html)?.slice(1);

function outputs(cache: string) {
  const { report, dir } = latestReport(cache);
  return {
    report,
    md: readFileSync(join(dir, 'report.md'), 'utf8'),
    html: readFileSync(join(dir, 'report.html'), 'utf8'),
    end: readJournal(join(dir, 'journal.jsonl')).at(-1),
    junit: readFileSync(join(dir, 'junit.xml'), 'utf8'),
  };
}

describe('the verdict comes first and says the same everywhere', () => {
  it('a failed gate: GATES FAILED in the terminal, report.md, report.html (red badge), report.json, the journal and JUnit; exit 3', async () => {
    const dir = tempDir();
    const cache = join(dir, 'c');
    const r = await qrun([recipe(dir, { gates: 'gates:\n  second.length: ">= 10"\n  first.length: "== 3"\n' }), '--cache', cache]);
    expect(r.exitCode).toBe(3);
    const verdict = '1 of 2 gates failed: second.length >= 10 (actual 3)';
    expect(firstLineAfterProgress(r.stdout)).toBe(`✗ GATES FAILED — ${verdict}`);
    const o = outputs(cache);
    expect(firstLineAfterTitle(o.md)).toBe(`**✗ GATES FAILED** — ${verdict}`);
    expect(o.md).not.toMatch(/status \*\*ok\*\*/);
    expect(badgeOf(o.html)).toEqual(['gates-failed', 'gates failed']);
    expect(o.html).toMatch(/\.badge\.failed,\.badge\.gates-failed,\.badge\.regressed\{background:#fee2e2;color:#991b1b\}/);
    expect(o.report.run.status).toBe('gates-failed');
    expect(o.end).toMatchObject({ event: 'end', status: 'gates-failed' });
    expect(o.junit).toContain('<property name="qrun.status" value="gates-failed"/>');
  });

  it('every gate passes: PASSED first, a green badge, exit 0', async () => {
    const dir = tempDir();
    const cache = join(dir, 'c');
    const r = await qrun([recipe(dir, { gates: 'gates:\n  first.length: "== 3"\n' }), '--cache', cache]);
    expect(r.exitCode).toBe(0);
    expect(firstLineAfterProgress(r.stdout)).toBe('✓ PASSED — 2 steps finished; the 1 gate passes');
    const o = outputs(cache);
    expect(firstLineAfterTitle(o.md)).toBe('**✓ PASSED** — 2 steps finished; the 1 gate passes');
    expect(badgeOf(o.html)).toEqual(['passed', 'passed']);
    expect(o.report.run.status).toBe('passed');
  });

  it('a failed step: FAILED first, naming the step, before the error; exit 1', async () => {
    const dir = tempDir();
    const cache = join(dir, 'c');
    const r = await qrun([recipe(dir, { behaviour: 'throw', gates: 'gates:\n  first.length: "== 3"\n' }), '--cache', cache]);
    expect(r.exitCode).toBe(1);
    const verdict = 'step "second" (counter) failed: the counter plugin was told to fail';
    expect(firstLineAfterProgress(r.stdout)).toBe(`✗ FAILED — ${verdict}`);
    expect(r.stderr).toContain(`error STEP_FAILED: ${verdict}`);
    const o = outputs(cache);
    expect(firstLineAfterTitle(o.md)).toBe(`**✗ FAILED** — ${verdict}`);
    expect(badgeOf(o.html)).toEqual(['failed', 'failed']);
    expect(o.report.run.status).toBe('failed');
  });

  it('a regression against --baseline is the verdict: REGRESSED first, report.json says regressed; exit 3', async () => {
    const dir = tempDir();
    const cache = join(dir, 'c');
    const file = recipe(dir);
    expect((await qrun([file, '--cache', cache])).exitCode).toBe(0);
    // The baseline: this recipe's own passing report, plus a bench step whose agreement this run
    // (which has no bench) does not have: a metric that disappears is a regression.
    const baseline = latestReport(cache).report;
    const withBench: Report = {
      ...baseline,
      steps: [...baseline.steps, { id: 'bench', uses: 'bench', plugin: 'bench', pluginVersion: '1', status: 'ran', durationMs: 1, options: {}, outputs: {}, metrics: { agreement: 0.999 } }],
    };
    writeFileSync(join(dir, 'baseline.json'), JSON.stringify(withBench));
    const r = await qrun([file, '--cache', cache, '--baseline', join(dir, 'baseline.json')]);
    expect(r.exitCode).toBe(3);
    expect(firstLineAfterProgress(r.stdout)).toMatch(/^✗ REGRESSED — regressed against baseline .*baseline\.json: agreement missing in this run/);
    const o = outputs(cache);
    expect(o.report.run.status).toBe('regressed');
    expect(o.report.baseline?.regressions.map((x) => x.name)).toEqual(['agreement']);
    expect(firstLineAfterTitle(o.md)).toMatch(/^\*\*✗ REGRESSED\*\* — regressed against baseline/);
    expect(badgeOf(o.html)).toEqual(['regressed', 'regressed']);
  });
});
