// A plugin that calls process.exit used to end qrun on the spot: exit 0, no output, gates never
// evaluated, a silent pass in CI. Through the real CLI with a real local plugin (written beside the
// recipe, as docs/plugins.md describes), every way of calling it must now fail loudly.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CacheStore } from '../../src/cache/store.ts';
import { qrun, REPO, tempDir } from '../helpers/cli.ts';
import { latestReport, step } from '../helpers/report.ts';

const COUNTER = join(REPO, 'tests/fixtures/plugins/counter');

// Line 9 (1-based) holds the process.exit of `run`: the error must point there.
const QUITTER = `import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

type Ctx = { outDir: string };
type How = 'exit' | 'exit-caught' | 'exit-in-callback' | 'exit-in-fingerprint';

async function run(o: { how: How }, _inputs: unknown, _sources: unknown, ctx: Ctx) {
  if (o.how === 'exit') {
    process.exit(0);
  }
  if (o.how === 'exit-caught') {
    try {
      process.exit(0);
    } catch {
      // carry on as if nothing happened
    }
  }
  if (o.how === 'exit-in-callback') {
    setTimeout(() => process.exit(0), 10);
    await new Promise(() => undefined);
  }
  writeFileSync(join(ctx.outDir, 'out.txt'), 'done');
  return { metrics: { length: 4 } };
}

export default {
  name: 'quitter',
  version: '1.0.0',
  description: 'Calls process.exit(0) (tests only)',
  optionsSchema: { type: 'object', additionalProperties: false, required: ['how'], properties: { how: { enum: ['exit', 'exit-caught', 'exit-in-callback', 'exit-in-fingerprint'] } } },
  inputs: {},
  outputs: { out: { kind: 'file', path: 'out.txt' } },
  async fingerprint(o: { how: How }) {
    if (o.how === 'exit-in-fingerprint') process.exit(0);
    return {};
  },
  run,
};
`;

function recipe(dir: string, how: string): string {
  writeFileSync(join(dir, 'quitter.ts'), QUITTER);
  const file = join(dir, 'recipe.yaml');
  const counter = join(dir, 'n.log');
  writeFileSync(
    file,
    `name: quits
steps:
  - { id: first, uses: ${COUNTER}, with: { counterFile: ${counter}, value: one } }
  - { id: second, uses: ./quitter.ts, with: { how: ${how} } }
  - { id: third, uses: ${COUNTER}, with: { counterFile: ${counter}, value: three } }
gates:
  first.length: "== 3"
`,
  );
  return file;
}

describe('a plugin that calls process.exit(0)', () => {
  it.each([
    ['in run()', 'exit'],
    ['in run(), and catches what qrun throws', 'exit-caught'],
    ['from a timer run() set', 'exit-in-callback'],
    ['in fingerprint()', 'exit-in-fingerprint'],
  ])('%s: the step fails with PLUGIN_EXITED, the run goes on to its report, exit 1', async (_where, how) => {
    const dir = tempDir();
    const cache = join(dir, 'c');
    const r = await qrun([recipe(dir, how), '--cache', cache]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('error PLUGIN_EXITED: step "second" (quitter) failed: called process.exit(0); plugins must return or throw');
    expect(r.stderr).toMatch(/hint: process\.exit would end qrun itself, before the gates are checked and the report is written: throw an Error instead/);
    expect(r.stdout).toContain('✗ FAILED — step "second" (quitter) failed: called process.exit(0); plugins must return or throw');
    const { report } = latestReport(cache);
    expect(report.run.status).toBe('failed');
    expect([step(report, 'first').status, step(report, 'second').status, step(report, 'third').status]).toEqual(['ran', 'failed', 'not-run']);
    // Nothing of the step that exited is cached, and its build folder is gone.
    const store = new CacheStore(join(cache, 'cache'));
    expect(await store.keys()).toHaveLength(1);
    expect(readdirSync(store.tmpDir)).toEqual([]);
  });

  it('the error points at the call in the plugin', async () => {
    const dir = tempDir();
    const r = await qrun([recipe(dir, 'exit'), '--cache', join(dir, 'c')]);
    expect(r.stderr).toContain(`${join(dir, 'quitter.ts')}:9:13: error PLUGIN_EXITED`);
  });

  it('when its module loads (outside any step): the backstop says so and exits 1, not 0', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'exits-on-import.ts'), `process.exit(0);\nexport default {};\n`);
    const file = join(dir, 'recipe.yaml');
    writeFileSync(file, 'name: quits\nsteps:\n  - { id: load, uses: ./exits-on-import.ts }\n');
    const r = await qrun([file, '--cache', join(dir, 'c')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('error EXITED_EARLY: qrun is exiting with code 0 before the command finished: gates were not checked and no report was written');
  });
});
