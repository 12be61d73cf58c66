// The command line by the conventions users expect (issue 12, section 3), through the real binary:
// `qrun help [command]`, `qrun <command> --help`, `qrun --version`, an unknown command or option →
// exit 2 with a suggestion, options scoped to their command, and `qrun cache ls` finding the cache a
// run left beside its recipe. On the original CLI every one of these answered "recipe file not
// found: help" (or ran, silently ignoring the option).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { QRUN_VERSION } from '../../src/version.ts';
import { qrun, REPO, tempDir } from '../helpers/cli.ts';

const COUNTER = join(REPO, 'tests/fixtures/plugins/counter');
const RECIPE = 'recipes/bert-int8.yaml';

/** A two-step recipe of the counter fixture plugin (fast: no model), in `dir`. */
function counterRecipe(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'counter.yaml');
  writeFileSync(file, `name: counter\nsteps:\n  - { id: first, uses: ${COUNTER}, with: { counterFile: ${join(dir, 'n.log')}, value: one } }\n`);
  return file;
}

describe('qrun help', () => {
  it('`qrun help` lists every command and exit code, exit 0 (was "recipe file not found: help")', async () => {
    const r = await qrun(['help']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    for (const c of ['run <recipe.yaml>', 'validate', 'plan', 'compare', 'inspect', 'cache ls', 'cache verify', 'cache gc', 'help [command]']) expect(r.stdout).toContain(c);
    for (const code of ['0 ', '1 ', '2 ', '3 ', '70 ', '130 ', '143 ']) expect(r.stdout).toMatch(new RegExp(`^  ${code}`, 'm'));
    expect(r.stdout).toContain('docs/recipe-reference.md');
  });

  it('`qrun help run` and `qrun run --help` print run’s own options and none of the others’', async () => {
    const a = await qrun(['help', 'run']);
    const b = await qrun(['run', '--help']);
    const c = await qrun([RECIPE, '--help']);
    expect([a.exitCode, b.exitCode, c.exitCode]).toEqual([0, 0, 0]);
    expect(b.stdout).toBe(a.stdout);
    expect(c.stdout).toBe(a.stdout);
    for (const o of ['--cache DIR', '--force STEP', '--from STEP', '--until STEP', '--only STEP', '--dry-run', '--plain', '--ci', '--junit FILE', '--baseline FILE']) expect(a.stdout).toContain(o);
    for (const o of ['--keep-last', '--tolerance', '--json']) expect(a.stdout).not.toContain(o);
  });

  it('`qrun cache --help` and `qrun help cache` list ls, verify and gc; `qrun cache gc --help` has --keep-last', async () => {
    const a = await qrun(['cache', '--help']);
    const b = await qrun(['help', 'cache']);
    expect([a.exitCode, b.exitCode]).toEqual([0, 0]);
    expect(b.stdout).toBe(a.stdout);
    for (const c of ['qrun cache ls', 'qrun cache verify', 'qrun cache gc']) expect(a.stdout).toContain(c);
    const gc = await qrun(['cache', 'gc', '--help']);
    expect(gc.exitCode).toBe(0);
    expect(gc.stdout).toContain('--keep-last N');
    expect((await qrun(['help', 'cache', 'gc'])).stdout).toBe(gc.stdout);
  });

  it('every command answers --help with its usage (exit 0)', async () => {
    for (const c of [['validate'], ['plan'], ['compare'], ['inspect'], ['cache', 'ls'], ['cache', 'verify']]) {
      const r = await qrun([...c, '--help']);
      expect(r.exitCode, c.join(' ')).toBe(0);
      expect(r.stdout).toContain(`usage:\n  qrun ${c.join(' ')}`);
    }
  });

  it('`qrun` alone prints the usage on stderr and exits 2', async () => {
    const r = await qrun([]);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('usage:');
  });
});

describe('qrun --version', () => {
  it('prints the version alone (-v too), exit 0', async () => {
    for (const flag of ['--version', '-v']) {
      const r = await qrun([flag]);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe(QRUN_VERSION);
      expect(r.stderr).toBe('');
    }
  });

  it('`npx qrun --version` prints only the version: no npm warning about .npmrc', async () => {
    const r = await execa('npx', ['qrun', '--version'], { cwd: REPO, reject: false, env: { PATH: process.env.PATH, HOME: process.env.HOME }, extendEnv: false });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(QRUN_VERSION);
    expect(r.exitCode).toBe(0);
  });
});

describe('unknown commands and options: exit 2 with a suggestion', () => {
  it('a misspelt command suggests the command (was "recipe file not found: hlep")', async () => {
    const r = await qrun(['hlep']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('error USAGE: unknown command: hlep');
    expect(r.stderr).toContain('did you mean `qrun help`?');
    expect(r.stderr).not.toContain('recipe file not found');
    const sub = await qrun(['cache', 'lss']);
    expect(sub.exitCode).toBe(2);
    expect(sub.stderr).toContain('did you mean `qrun cache ls`?');
    const word = await qrun(['verify']);
    expect(word.stderr).toContain('did you mean `qrun cache verify`?');
    const help = await qrun(['help', 'comapre']);
    expect(help.exitCode).toBe(2);
    expect(help.stderr).toContain('did you mean `qrun help compare`?');
  });

  it('a recipe named without its folder and extension is suggested', async () => {
    const r = await qrun(['bert-int8']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('did you mean `qrun recipes/bert-int8.yaml`?');
  });

  it('a first argument ending in .yaml, or naming an existing file, is still a recipe (the default command)', async () => {
    const missing = await qrun(['recipes/nope.yaml']);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('RECIPE_NOT_FOUND');
    const dir = tempDir();
    const file = counterRecipe(join(dir, 'r'));
    const plain = join(dir, 'r', 'recipe-without-extension');
    writeFileSync(plain, `name: plain\nsteps:\n  - { uses: ${COUNTER}, with: { counterFile: ${join(dir, 'p.log')}, value: one } }\n`);
    const ran = await qrun([plain, '--cache', join(dir, 'c')]);
    expect(ran.stderr).toBe('');
    expect(ran.exitCode).toBe(0);
    // Options before the recipe belong to the default command too.
    const planned = await qrun(['--cache', join(dir, 'c'), '--dry-run', file]);
    expect(planned.exitCode).toBe(0);
    expect(planned.stdout).toContain('step(s) will run');
  });

  it('an option of another command is refused, naming the command that has it (was silently ignored)', async () => {
    const force = await qrun(['validate', RECIPE, '--force', 'calibrate']);
    expect(force.exitCode).toBe(2);
    expect(force.stderr).toContain('error USAGE: --force is an option of qrun run, qrun plan, not of qrun validate');
    const keep = await qrun(['cache', 'ls', '--keep-last', '3']);
    expect(keep.exitCode).toBe(2);
    expect(keep.stderr).toContain('--keep-last is an option of qrun cache gc, not of qrun cache ls');
    const tolerance = await qrun([RECIPE, '--tolerance', '0.1']);
    expect(tolerance.exitCode).toBe(2);
    expect(tolerance.stderr).toContain('--tolerance is an option of qrun compare, not of qrun run');
    const json = await qrun(['plan', RECIPE, '--json']);
    expect(json.exitCode).toBe(2);
    expect(json.stderr).toContain('--json is an option of qrun inspect, not of qrun plan');
  });

  it('an unknown option suggests the command’s nearest option', async () => {
    const r = await qrun([RECIPE, '--chache', 'x']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('unknown option --chache for qrun run');
    expect(r.stderr).toContain('did you mean --cache?');
  });

  it('a missing argument, an extra one or a missing option value is a usage error', async () => {
    const none = await qrun(['validate']);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toContain('qrun validate needs <recipe.yaml>');
    const extra = await qrun(['validate', RECIPE, 'other.yaml']);
    expect(extra.exitCode).toBe(2);
    expect(extra.stderr).toContain('unexpected: other.yaml');
    const value = await qrun(['cache', 'gc', '--cache']);
    expect(value.exitCode).toBe(2);
    expect(value.stderr).toContain("'--cache <value>' argument missing");
    const number = await qrun(['compare', 'a.json', 'b.json', '--tolerance', 'lots']);
    expect(number.exitCode).toBe(2);
    expect(number.stderr).toContain('--tolerance must be a number ≥ 0, got lots');
  });
});

describe('qrun cache without --cache', () => {
  it('`qrun cache ls` from a project root finds the cache a run left beside its recipe (was "no cache at ./.qrun")', async () => {
    const root = tempDir();
    const recipe = counterRecipe(join(root, 'recipes'));
    expect((await qrun([recipe], { cwd: root })).exitCode).toBe(0);
    const ls = await qrun(['cache', 'ls'], { cwd: root });
    expect(ls.stderr).toBe('');
    expect(ls.exitCode).toBe(0);
    expect(ls.stdout).toContain('cache recipes/.qrun (the only .qrun under');
    expect(ls.stdout).toMatch(/1 entries, .*, 1 runs/);
    const verify = await qrun(['cache', 'verify'], { cwd: root });
    expect(verify.exitCode).toBe(0);
    expect(verify.stdout).toContain('1 of 1 entries verified');
    // gc removes files: it names the cache it found but does not act on a guess.
    const gc = await qrun(['cache', 'gc'], { cwd: root });
    expect(gc.exitCode).toBe(2);
    expect(gc.stderr).toContain('recipes/.qrun');
    expect(gc.stderr).toContain('qrun cache gc --cache recipes/.qrun');
  });

  it('with several caches below, lists them and says how to pick one; with none, says where caches are kept', async () => {
    const root = tempDir();
    for (const sub of ['a', 'b']) expect((await qrun([counterRecipe(join(root, sub))], { cwd: root })).exitCode).toBe(0);
    const ls = await qrun(['cache', 'ls'], { cwd: root });
    expect(ls.exitCode).toBe(2);
    expect(ls.stderr).toContain('the 2 qrun caches below it:\n  a/.qrun\n  b/.qrun');
    expect(ls.stderr).toContain('--cache a/.qrun');
    const empty = await qrun(['cache', 'ls'], { cwd: tempDir() });
    expect(empty.exitCode).toBe(2);
    expect(empty.stderr).toContain('no .qrun here nor in the folders below it');
    expect(empty.stderr).toContain('.qrun beside its recipe');
  });
});
