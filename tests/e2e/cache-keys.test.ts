// What a cache key must hold, through the real CLI: a hub model's content behind its links, the
// script a command step runs, the code and packages of each plugin (and of nothing else), and the
// CPU kernel family of the steps whose numbers depend on it. Each test names the stale hit it
// guards against.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, extname, join, relative } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { qrun, REPO, tempDir, type QrunResult } from '../helpers/cli.ts';
import { etagOf, modelFiles, writeHubRepo } from '../helpers/hf-hub-cache.ts';
import { latestReport, step } from '../helpers/report.ts';

const MODEL = join(REPO, 'models/bert-langid');
const MODEL_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt', 'model.safetensors', 'onnx/model.onnx'];

/** The first lines of the shipped calibration set: enough to tokenize and calibrate, quickly. */
function smallCalibration(dir: string, lines = 8): string {
  const file = join(dir, 'calib.jsonl');
  writeFileSync(file, readFileSync(join(REPO, 'data/langid/calib.jsonl'), 'utf8').split('\n').slice(0, lines).join('\n') + '\n');
  return file;
}

/** `qrun plan`'s row for a step: [plan, key, why]. */
function planRow(stdout: string, id: string): { plan: string; key: string; why: string } {
  const line = stdout.split('\n').find((l) => l.startsWith(`${id} `));
  if (!line) throw new Error(`no plan row for ${id} in:\n${stdout}`);
  const m = /^\S+\s+\S+\s+(cache hit|run)\s+(\S+)\s*(.*)$/.exec(line)!;
  return { plan: m[1]!, key: m[2]!, why: m[3]!.trim() };
}

describe('symlinked model files: a hub snapshot is keyed on what its links point to', () => {
  const commitA = '1'.repeat(40);
  const commitB = '2'.repeat(40);

  function hubWithTwoModels(dir: string): string {
    const hub = join(dir, 'hub');
    const files = modelFiles(MODEL, MODEL_FILES);
    writeHubRepo(hub, 'acme/a', commitA, files);
    // acme/b: the same model with its tokenizer truncating at 64 tokens instead of 128.
    const tokenizer = JSON.parse(Buffer.from(files['tokenizer.json']!).toString('utf8')) as { truncation: { max_length: number } };
    tokenizer.truncation.max_length = 64;
    writeHubRepo(hub, 'acme/b', commitB, { ...files, 'tokenizer.json': JSON.stringify(tokenizer) });
    return hub;
  }

  const recipe = (dir: string, model: string) => {
    const file = join(dir, `${model.replace('/', '-')}.yaml`);
    writeFileSync(file, `name: hub\nmodel: ${model}\ndata: { calibration: ${smallCalibration(dir)} }\nsteps:\n  - { id: load, uses: hf.load }\n`);
    return file;
  };

  it('acme/b is loaded, not served acme/a\'s entry (links were skipped: every snapshot digested as an empty folder)', async () => {
    const dir = tempDir();
    const env = { HF_HUB_CACHE: hubWithTwoModels(dir) };
    const cache = join(dir, 'cache');
    const a = await qrun([recipe(dir, 'acme/a'), '--cache', cache], { env });
    expect(a.stderr).toBe('');
    const ra = step(latestReport(cache).report, 'load');
    const b = await qrun([recipe(dir, 'acme/b'), '--cache', cache], { env });
    expect(b.stderr).toBe('');
    const rb = step(latestReport(cache).report, 'load');
    expect(ra.status).toBe('ran');
    expect(rb.status).toBe('ran');
    expect(rb.key).not.toBe(ra.key);
    expect(ra.metrics).toMatchObject({ hubId: 'acme/a', revision: commitA, maxLength: 128 });
    expect(rb.metrics).toMatchObject({ hubId: 'acme/b', revision: commitB, maxLength: 64 });
    expect(rb.outputs.datasets!.sha256).not.toBe(ra.outputs.datasets!.sha256);
    // And a snapshot is keyed like a copy of its files plus its revision: running acme/a again hits.
    await qrun([recipe(dir, 'acme/a'), '--cache', cache], { env });
    expect(step(latestReport(cache).report, 'load')).toMatchObject({ status: 'hit', key: ra.key });
  });

  it('a git-annex checkout (links into .git/annex/objects) whose annexed tokenizer changed is loaded again, not served the old entry', async () => {
    const dir = tempDir();
    // A repository with the model in a subfolder: `git annex add` moved the content to
    // .git/annex/objects/<hash dirs>/<key>/<key> and left a relative link in the work tree.
    const repo = join(dir, 'repo');
    const checkout = join(repo, 'model');
    mkdirSync(checkout, { recursive: true });
    const annex = (path: string, bytes: Uint8Array) => {
      const key = `SHA256E-s${bytes.length}--${createHash('sha256').update(bytes).digest('hex')}${extname(path)}`;
      const md5 = createHash('md5').update(key).digest('hex');
      const object = join(repo, '.git', 'annex', 'objects', md5.slice(0, 3), md5.slice(3, 6), key, key);
      mkdirSync(dirname(object), { recursive: true });
      writeFileSync(object, bytes);
      const link = join(checkout, path);
      mkdirSync(dirname(link), { recursive: true });
      rmSync(link, { force: true });
      symlinkSync(relative(dirname(link), object), link);
    };
    const files = modelFiles(MODEL, MODEL_FILES);
    for (const [path, bytes] of Object.entries(files)) {
      if (path === 'config.json') writeFileSync(join(checkout, path), bytes); // small files stay in git
      else annex(path, bytes);
    }
    const file = join(dir, 'r.yaml');
    writeFileSync(file, `name: annex\nmodel: ./repo/model\ndata: { calibration: ${smallCalibration(dir)} }\nsteps:\n  - { id: load, uses: hf.load }\n`);
    const cache = join(dir, 'cache');
    expect((await qrun([file, '--cache', cache])).stderr).toBe('');
    expect(step(latestReport(cache).report, 'load').metrics).toMatchObject({ maxLength: 128 });
    const tokenizer = JSON.parse(Buffer.from(files['tokenizer.json']!).toString('utf8')) as { truncation: { max_length: number } };
    tokenizer.truncation.max_length = 64;
    annex('tokenizer.json', Buffer.from(JSON.stringify(tokenizer)));
    expect((await qrun([file, '--cache', cache])).stderr).toBe('');
    expect(step(latestReport(cache).report, 'load')).toMatchObject({ status: 'ran', metrics: { maxLength: 64 } });
  });

  it('a snapshot whose blob was never fetched fails, naming the dangling link', async () => {
    const dir = tempDir();
    const hub = hubWithTwoModels(dir);
    const onnx = readFileSync(join(MODEL, 'onnx/model.onnx'));
    unlinkSync(join(hub, 'models--acme--a', 'blobs', etagOf('onnx/model.onnx', onnx)));
    const r = await qrun([recipe(dir, 'acme/a'), '--cache', join(dir, 'cache')], { env: { HF_HUB_CACHE: hub } });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`error LINK_DANGLING: step "load" (hf.load) failed: ${join(hub, 'models--acme--a', 'snapshots', commitA, 'onnx', 'model.onnx')} is a symbolic link to ../../../blobs/${etagOf('onnx/model.onnx', onnx)}, which does not exist`);
    expect(r.stderr).toMatch(/hint: .*huggingface-cli download/);
  });
});

describe('command steps: the scripts a command runs are keyed', () => {
  const tool = (value: number, version = '1.0') => `#!/usr/bin/env node
import { readFileSync, writeFileSync } from 'node:fs';
if (process.argv[2] === '--version') { console.log('measure ${version}'); process.exit(0); }
const { factor } = JSON.parse(readFileSync(new URL('./lib/factor.json', import.meta.url), 'utf8'));
writeFileSync(process.argv[2], JSON.stringify({ value: ${value} * factor }));
`;

  function project(run: string, extra = ''): { dir: string; file: string; cache: string } {
    const dir = tempDir();
    mkdirSync(join(dir, 'tools', 'lib'), { recursive: true });
    writeFileSync(join(dir, 'tools', 'measure.mjs'), tool(1), { mode: 0o755 });
    writeFileSync(join(dir, 'tools', 'lib', 'factor.json'), '{ "factor": 10 }');
    const file = join(dir, 'recipe.yaml');
    writeFileSync(
      file,
      `name: measure\nsteps:\n  - id: measure\n    uses: command\n    with:\n      run: ${run}\n      outputs: { stats: { path: stats.json } }\n      metrics: stats\n${extra}`,
    );
    return { dir, file, cache: join(dir, '.qrun') };
  }
  const runIt = async (p: { file: string; cache: string }) => {
    const r = await qrun([p.file, '--cache', p.cache]);
    expect(r.stderr).toBe('');
    return step(latestReport(p.cache).report, 'measure');
  };

  it('editing the script (`run: [node, tools/measure.mjs]`) re-runs the step instead of serving the old result', async () => {
    const p = project("[node, tools/measure.mjs, '{outputs.stats}']");
    expect(await runIt(p)).toMatchObject({ status: 'ran', metrics: { value: 10 } });
    expect(await runIt(p)).toMatchObject({ status: 'hit' });
    writeFileSync(join(p.dir, 'tools', 'measure.mjs'), tool(2));
    const plan = await qrun(['plan', p.file, '--cache', p.cache]);
    expect(planRow(plan.stdout, 'measure')).toMatchObject({ plan: 'run', why: expect.stringMatching(/^source arg:tools\/measure\.mjs changed \(/) });
    expect(await runIt(p)).toMatchObject({ status: 'ran', metrics: { value: 20 } });
  });

  it('files: globs key what no argument names (a module the script reads); a glob that matches nothing is an error at its step', async () => {
    const p = project("[node, tools/measure.mjs, '{outputs.stats}']", "      files: ['tools/lib/*.json']\n");
    expect(await runIt(p)).toMatchObject({ status: 'ran', metrics: { value: 10 } });
    writeFileSync(join(p.dir, 'tools', 'lib', 'factor.json'), '{ "factor": 100 }');
    expect(await runIt(p)).toMatchObject({ status: 'ran', metrics: { value: 100 } });
    writeFileSync(p.file, readFileSync(p.file, 'utf8').replace('tools/lib/*.json', 'tools/lib/*.yaml'));
    const r = await qrun([p.file, '--cache', p.cache]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`${p.file}:3:5: error COMMAND_FILES: step "measure" (command) failed: files: pattern "tools/lib/*.yaml" matches no file in ${p.dir}`);
  });

  it('the --version probe runs in the recipe folder, as the command does (`./tools/measure.mjs` was probed from the cwd: "absent")', async () => {
    const p = project("['./tools/measure.mjs', '{outputs.stats}']");
    expect(await runIt(p)).toMatchObject({ status: 'ran', fingerprint: { tool: './tools/measure.mjs', toolVersion: 'measure 1.0' } });
    expect(await runIt(p)).toMatchObject({ status: 'hit' });
  });
});

describe('external plugins are keyed on their import closure too', () => {
  it('editing a module the plugin imports re-runs its step, and plan says which file changed', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'my-step'));
    writeFileSync(join(dir, 'my-step', 'value.ts'), 'export const value = 1;\n');
    writeFileSync(
      join(dir, 'my-step', 'index.ts'),
      `import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { value } from './value.ts';
export default {
  name: 'my-step', version: '1.0.0', description: 'writes a value', optionsSchema: { type: 'object' }, inputs: {},
  outputs: { out: { kind: 'file', path: 'out.json' } },
  async run(_o: unknown, _i: unknown, _s: unknown, ctx: { outDir: string }) { writeFileSync(join(ctx.outDir, 'out.json'), JSON.stringify({ value })); return { metrics: { value } }; },
};
`,
    );
    const file = join(dir, 'recipe.yaml');
    writeFileSync(file, 'name: ext\nsteps:\n  - { id: mine, uses: ./my-step }\n');
    const cache = join(dir, 'cache');
    expect((await qrun([file, '--cache', cache])).stderr).toBe('');
    writeFileSync(join(dir, 'my-step', 'value.ts'), 'export const value = 2;\n');
    const plan = await qrun(['plan', file, '--cache', cache]);
    expect(planRow(plan.stdout, 'mine')).toMatchObject({ plan: 'run', why: 'code of plugin my-step changed (value.ts)' });
    expect((await qrun([file, '--cache', cache])).stderr).toBe('');
    expect(step(latestReport(cache).report, 'mine')).toMatchObject({ status: 'ran', metrics: { value: 2 } });
  });
});

describe('code, packages, Node and the CPU: each plugin is keyed on what it runs', () => {
  // A copy of qrun whose sources and node_modules the tests may edit: its own plugins' entries and
  // closures, with node_modules made of links to the real packages.
  let root: string;
  let recipeFile: string;
  let cache: string;

  const qrunCopy = async (args: string[], env: Record<string, string> = {}): Promise<QrunResult> => {
    const r = await execa(process.execPath, [join(root, 'bin', 'qrun.js'), ...args], { cwd: root, reject: false, env: { CI: 'true', PATH: process.env.PATH, ...env }, extendEnv: false });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  };
  const plan = async (env: Record<string, string> = {}) => {
    const r = await qrunCopy(['plan', recipeFile, '--cache', cache], env);
    expect(r.stderr).toBe('');
    return r.stdout;
  };

  beforeAll(async () => {
    root = tempDir('qrun-copy-');
    for (const entry of ['bin', 'src', 'plugins', 'schemas', 'package.json']) cpSync(join(REPO, entry), join(root, entry), { recursive: true });
    mkdirSync(join(root, 'node_modules'));
    for (const name of readdirSync(join(REPO, 'node_modules'))) symlinkSync(join(REPO, 'node_modules', name), join(root, 'node_modules', name));
    const dir = tempDir();
    recipeFile = join(dir, 'recipe.yaml');
    cache = join(dir, 'cache');
    writeFileSync(
      recipeFile,
      `name: keys
model: ${MODEL}
data: { calibration: ${smallCalibration(dir)} }
steps:
  - { id: load, uses: hf.load }
  - { id: export, uses: onnx.export }
  - { id: qdq, uses: qdq.insert }
  - { id: calibrate, uses: calibrate, with: { method: minmax } }
`,
    );
    const r = await qrunCopy([recipeFile, '--cache', cache]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  }, 240_000);

  it('editing a file only the exporter imports re-runs onnx.export, not hf.load (one digest of all of qrun re-ran every step)', async () => {
    const exporter = join(root, 'src/export/bert.ts');
    const original = readFileSync(exporter, 'utf8');
    writeFileSync(exporter, `${original}\n// an edit\n`);
    try {
      const out = await plan();
      expect(planRow(out, 'load').plan).toBe('cache hit');
      expect(planRow(out, 'export')).toMatchObject({ plan: 'run', why: 'code of plugins/onnx-export changed (src/export/bert.ts)' });
    } finally {
      writeFileSync(exporter, original);
    }
    expect(planRow(await plan(), 'export').plan).toBe('cache hit');
  });

  it('another installed onnxruntime-node re-runs calibrate, not hf.load, onnx.export or qdq.insert (package versions were in no key)', async () => {
    const link = join(root, 'node_modules', 'onnxruntime-node');
    const real = join(REPO, 'node_modules', 'onnxruntime-node');
    const pkg = JSON.parse(readFileSync(join(real, 'package.json'), 'utf8')) as { version: string };
    // The same package under another version number: its files are links to the real ones.
    unlinkSync(link);
    mkdirSync(link);
    for (const name of readdirSync(real)) if (name !== 'package.json') symlinkSync(join(real, name), join(link, name));
    writeFileSync(join(link, 'package.json'), JSON.stringify({ ...pkg, version: '99.0.0' }));
    try {
      const out = await plan();
      for (const id of ['load', 'export', 'qdq']) expect(planRow(out, id).plan).toBe('cache hit');
      expect(planRow(out, 'calibrate')).toMatchObject({ plan: 'run', why: `package onnxruntime-node ${pkg.version} → 99.0.0` });
    } finally {
      rmSync(link, { recursive: true });
      symlinkSync(real, link);
    }
  });

  it('on a CPU of another kernel family calibrate runs again and hf.load does not (one family\'s scales were served to another)', async () => {
    // Another machine's /proc/cpuinfo: an AVX2 Xeon, or an AVX-512 VNNI EPYC where this machine is the former.
    const avx512vnni = existsSync('/proc/cpuinfo') && /\bavx512_vnni\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
    const [other, otherFamily] = avx512vnni ? ['cpuinfo-xeon-broadwell-avx2.txt', 'x64/avx2'] : ['cpuinfo-epyc-zen4-avx512vnni.txt', 'x64/avx512vnni'];
    const out = await plan({ QRUN_CPUINFO_FILE: join(REPO, 'src/cache/fixtures', other) });
    for (const id of ['load', 'export', 'qdq']) expect(planRow(out, id).plan).toBe('cache hit');
    expect(planRow(out, 'calibrate').plan).toBe('run');
    const { cpuKernelFamily } = await import('../../src/cache/cpu-kernels.ts');
    expect(planRow(out, 'calibrate').why).toBe(`CPU kernels ${cpuKernelFamily()} → ${otherFamily}`);
    expect(planRow(await plan(), 'calibrate').plan).toBe('cache hit');
  });
});
