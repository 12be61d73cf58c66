// qrun starts from a bundle of its TypeScript sources (bin/build-ahead.js), built on the first run
// and rebuilt when a source changes. Run on a copy of qrun whose sources the test edits, with
// node_modules made of links to the real packages and a node_modules/.cache of its own.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO, tempDir, type QrunResult } from '../helpers/cli.ts';

let root: string;
let recipe: string;
const cacheDir = () => join(root, 'node_modules', '.cache', 'qrun-cli');
const bundles = () => readdirSync(cacheDir()).filter((d) => /^[0-9a-f]{24}$/.test(d)).sort();
const manifest = () => {
  const name = readdirSync(cacheDir()).find((f) => /^current-.*\.json$/.test(f))!;
  return JSON.parse(readFileSync(join(cacheDir(), name), 'utf8')) as { digest: string; inputs: Record<string, unknown> };
};

async function qrunCopy(args: string[], env: Record<string, string> = {}): Promise<QrunResult> {
  const r = await execa(process.execPath, [join(root, 'bin', 'qrun.js'), ...args], { cwd: root, reject: false, env: { CI: 'true', PATH: process.env.PATH, ...env }, extendEnv: false });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

beforeAll(() => {
  root = tempDir('qrun-build-ahead-');
  for (const entry of ['bin', 'src', 'plugins', 'schemas', 'package.json']) cpSync(join(REPO, entry), join(root, entry), { recursive: true });
  mkdirSync(join(root, 'node_modules'));
  for (const name of readdirSync(join(REPO, 'node_modules'))) if (name !== '.cache') symlinkSync(join(REPO, 'node_modules', name), join(root, 'node_modules', name));
  const dir = tempDir();
  // An external plugin in TypeScript, in a folder without "type": "module", that throws qrun's own
  // error from the copy's src/errors.ts (a second copy of the class besides the bundle's).
  writeFileSync(
    join(dir, 'fails.ts'),
    `import { errors } from ${JSON.stringify(pathToFileURL(join(root, 'src/errors.ts')).href)};
const why: string = 'on purpose';
export default {
  name: 'fails', version: '1.0.0', description: 'throws a QrunError (tests only)',
  optionsSchema: { type: 'object' }, inputs: {}, outputs: {},
  async run() { throw errors.labelsMismatch('the labels do not match', why); },
};
`,
  );
  recipe = join(dir, 'recipe.yaml');
  writeFileSync(recipe, 'name: fails\nsteps:\n  - { id: boom, uses: ./fails.ts }\n');
});

describe('qrun starts from a bundle of its sources', () => {
  it('the first run builds it, later runs use it, and a changed source is rebuilt before anything runs', async () => {
    const first = await qrunCopy(['validate', recipe]);
    expect(first.stderr).toBe('');
    expect(first.stdout).toContain(': valid — 1 steps: boom (fails)');
    const built = bundles();
    expect(built).toHaveLength(1);
    expect(manifest().digest).toBe(built[0]);
    // Every source the CLI runs is in the bundle's key, the plugins' too.
    expect(Object.keys(manifest().inputs)).toEqual(expect.arrayContaining(['src/cli.ts', 'src/commands/validate.ts', 'plugins/onnx-export/index.ts', 'src/export/bert.ts']));

    expect((await qrunCopy(['validate', recipe])).stdout).toContain(': valid — 1 steps');
    expect(bundles()).toEqual(built);

    const validate = join(root, 'src/commands/validate.ts');
    writeFileSync(validate, readFileSync(validate, 'utf8').replace(': valid — ', ': VALID (edited) — '));
    const edited = await qrunCopy(['validate', recipe]);
    expect(edited.stdout).toContain(': VALID (edited) — 1 steps');
    expect(bundles()).toHaveLength(2);
    expect(manifest().digest).not.toBe(built[0]);
  });

  it('files named beside a source (new URL(…, import.meta.url)) are the ones beside the .ts file, not the bundle', async () => {
    await qrunCopy(['--version']);
    const dir = join(cacheDir(), manifest().digest);
    const js = readdirSync(dir).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
    // The torch worker's folder and the recipe schema, as each module names them.
    const named = (spec: string, source: string) => `new URL(${JSON.stringify(spec)},${JSON.stringify(pathToFileURL(join(root, source)).href)})`;
    const compact = js.replace(/new URL\(("[^"]*"),\s*/g, 'new URL($1,');
    expect(compact).toContain(named('./worker', 'plugins/torch/worker-dir.ts'));
    expect(compact).toContain(named('../../schemas/recipe.schema.json', 'src/recipe/load-recipe.ts'));
  });

  it('an external TypeScript plugin loads, and its QrunError keeps its code and hint', async () => {
    const r = await qrunCopy([recipe, '--cache', join(root, 'cache')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('error LABELS_MISMATCH: step "boom" (fails) failed: the labels do not match');
    expect(r.stderr).toContain('hint: on purpose');
  });

  it('QRUN_BUILD_AHEAD=0 runs the sources through tsx and builds nothing', async () => {
    const before = bundles();
    const validate = join(root, 'src/commands/validate.ts');
    writeFileSync(validate, readFileSync(validate, 'utf8').replace(': VALID (edited) — ', ': valid from tsx — '));
    const r = await qrunCopy(['validate', recipe], { QRUN_BUILD_AHEAD: '0' });
    expect(r.stdout).toContain(': valid from tsx — 1 steps');
    expect(bundles()).toEqual(before);
    expect(existsSync(join(cacheDir(), 'current.json'))).toBe(false);
  });
});
