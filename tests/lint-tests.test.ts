// The test lint (scripts/lint-tests.ts) over the whole repository, so `npm test` fails on a `.only`
// or an unexplained skip; and the lint itself on samples that must be rejected, or accepted.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { formatFinding, lintTestFiles, lintTestSource, testFiles } from '../scripts/lint-tests.ts';
import { REPO, tempDir } from './helpers/cli.ts';

const lint = (source: string) => lintTestSource(source, 'sample.test.ts').map((f) => `${f.line}:${f.column} ${f.code}`);

describe('the repository', () => {
  it('has no .only and no skip without a stated reason in any test file vitest runs', async () => {
    const { files, findings } = await lintTestFiles(REPO);
    // The lint saw the suite (this file included), not an empty glob.
    expect(files).toContain('tests/lint-tests.test.ts');
    expect(files).toContain('tests/e2e/zoo.test.ts');
    expect(files.length).toBeGreaterThan(50);
    expect(findings.map(formatFinding)).toEqual([]);
  });

  it('finds test files where vitest does: src, plugins and tests', async () => {
    const roots = new Set((await testFiles(REPO)).map((f) => f.split('/')[0]));
    expect([...roots].sort()).toEqual(['plugins', 'src', 'tests']);
  });
});

describe('lintTestSource rejects, with line and column', () => {
  it('every spelling of a focused test', () => {
    const src = [
      "describe.only('a', () => {});", // 1
      "it.only('b', () => {});", // 2
      "test.only('c', () => {});", // 3
      "it.concurrent.only('d', () => {});", // 4
      "describe.only.each([1])('e %s', () => {});", // 5
      "fit('f', () => {});", // 6
      "fdescribe('g', () => {});", // 7
      "it('h', { only: true }, () => {});", // 8
      "const myTest = test.extend({});", // 9
      "myTest.only('i', () => {});", // 10
    ].join('\n');
    expect(lint(src)).toEqual(['1:10 TEST_ONLY', '2:4 TEST_ONLY', '3:6 TEST_ONLY', '4:15 TEST_ONLY', '5:10 TEST_ONLY', '6:1 TEST_ONLY', '7:1 TEST_ONLY', '8:11 TEST_ONLY', '10:8 TEST_ONLY']);
  });

  it('.only even with a skip-reason comment: focus is never allowed', () => {
    expect(lint("// skip-reason: debugging\nit.only('x', () => {});")).toEqual(['2:4 TEST_ONLY']);
  });

  it('every spelling of a skip that gives no reason', () => {
    const src = [
      "it.skip('a', () => {});", // 1
      "describe.skip('b', () => {});", // 2
      "test.skip('c', () => {});", // 3
      "it.skipIf(process.env.CI)('d', () => {});", // 4
      "describe.runIf(false)('e', () => {});", // 5
      "it.todo('f');", // 6
      "it('g', (ctx) => { ctx.skip(); });", // 7
      "it('h', (t) => { t.skip(true); });", // 8
      "it('i', ({ skip }) => { skip(); });", // 9
      "it('j', { skip: true }, () => {});", // 10
      "xit('k', () => {});", // 11
      "// a comment that is no reason", // 12
      "it.skip('l', () => {});", // 13
      "// skip-reason:", // 14
      "it.skip('m', () => {});", // 15
    ].join('\n');
    expect(lint(src)).toEqual([
      '1:4 TEST_SKIP_NO_REASON',
      '2:10 TEST_SKIP_NO_REASON',
      '3:6 TEST_SKIP_NO_REASON',
      '4:4 TEST_SKIP_NO_REASON',
      '5:10 TEST_SKIP_NO_REASON',
      '6:4 TEST_SKIP_NO_REASON',
      '7:24 TEST_SKIP_NO_REASON',
      '8:20 TEST_SKIP_NO_REASON',
      '9:25 TEST_SKIP_NO_REASON',
      '10:11 TEST_SKIP_NO_REASON',
      '11:1 TEST_SKIP_NO_REASON',
      '13:4 TEST_SKIP_NO_REASON',
      '15:4 TEST_SKIP_NO_REASON',
    ]);
  });

  it('a reason comment that is separated from the skip by code or a blank line does not count', () => {
    expect(lint("// skip-reason: no GPU here\nconst x = 1;\nit.skip('a', () => {});")).toEqual(['3:4 TEST_SKIP_NO_REASON']);
    expect(lint("// skip-reason: no GPU here\n\nit.skip('a', () => {});")).toEqual(['3:4 TEST_SKIP_NO_REASON']);
  });
});

describe('lintTestSource accepts', () => {
  it('skips that state their reason, as defined in scripts/lint-tests.ts', () => {
    const src = [
      "it.skip('a', () => {}); // skip-reason: flaky upstream, issue 99",
      '// skip-reason: needs python3 with numpy',
      "describe.skipIf(!hasNumpy)('b', () => {",
      '  // The comment run may be longer;',
      '  // skip-reason: chromium is optional',
      "  it.skipIf(!chromium)(title, async () => {});",
      '});',
      "it('c', (ctx) => { ctx.skip('no torch on this machine'); });",
      "it('d', (t) => { t.skip(hasTorch, `python ${version} has torch`); });",
      '// skip-reason: written before the plugin exists',
      "it.todo('e');",
    ].join('\n');
    expect(lint(src)).toEqual([]);
  });

  it('the words only and skip where they are not test modifiers', () => {
    const src = [
      "// it.only('in a comment') and it.skip('too')",
      "const sample = \"it.only('in a string'); describe.skip('x')\";",
      "it('reads flags', () => { expect(flags.only).toBe('x'); expect(result.skipped).toBeUndefined(); expect(o.skipInference).toBe(false); });",
      "it('options that are off', { only: false, skip: false }, () => {});",
    ].join('\n');
    expect(lint(src)).toEqual([]);
  });
});

describe('scripts/lint-tests.ts as a command', () => {
  it('exits 1 and prints file:line:col, the code and the hint for each problem', async () => {
    const dir = tempDir('qrun-lint-');
    const bad = join(dir, 'bad.test.ts');
    writeFileSync(bad, "import { it } from 'vitest';\n\nit.only('focused', () => {});\nit.skip('bare', () => {});\n");
    const r = await execa(process.execPath, ['--import', 'tsx', join(REPO, 'scripts/lint-tests.ts'), bad], { cwd: REPO, reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`${bad}:3:4: error TEST_ONLY: it.only focuses this test and turns the others off`);
    expect(r.stderr).toContain(`${bad}:4:4: error TEST_SKIP_NO_REASON: it.skip without a stated reason`);
    expect(r.stderr).toContain('hint: state why on the line');
    expect(r.stderr).toContain('lint-tests: 2 problem(s) in 1 file(s)');
  });

  it('exits 0 on a clean file', async () => {
    const dir = tempDir('qrun-lint-');
    const good = join(dir, 'good.test.ts');
    writeFileSync(good, "import { it } from 'vitest';\n// skip-reason: needs a GPU\nit.skip('gpu', () => {});\nit('runs', () => {});\n");
    const r = await execa(process.execPath, ['--import', 'tsx', join(REPO, 'scripts/lint-tests.ts'), good], { cwd: REPO, reject: false });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('lint-tests: 1 test file(s), no .only, every skip states its reason');
  });
});
