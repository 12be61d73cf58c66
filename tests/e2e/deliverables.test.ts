// The deliverables folder through the real CLI (issue 12 §1): a real run of the shipped model puts
// the INT8 model, the Triton repository and the reports in out/<recipe name>/ beside the recipe, with
// a manifest whose sha256s are the files'; a second run replaces the folder whole; `qrun cache gc`
// does not break it (copies, or hard links that outlive the entry); a failed, interrupted or partial
// run leaves the previous set; a gates-failed run is delivered with its verdict; a matrix gets one
// folder per variant; a full disk is DISK_FULL with the previous set intact; a folder holding the
// user's files is refused before anything runs; `outputs:` mistakes are found by `qrun validate`.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CacheStore } from '../../src/cache/store.ts';
import type { DeliverablesManifest, MatrixManifest } from '../../src/engine/deliverables.ts';
import type { Report } from '../../src/report/build-report.ts';
import { createSession } from '../../src/runtime/session.ts';
import { sha256File } from '../../src/util/hash.ts';
import { qrun, REPO, startQrun, tempDir } from '../helpers/cli.ts';
import { latestReport, step } from '../helpers/report.ts';
import { useTmpfs } from '../helpers/tmpfs.ts';
import { waitFor } from '../helpers/wait-for.ts';

const COUNTER = join(REPO, 'tests/fixtures/plugins/counter');
const HOLD = join(REPO, 'tests/fixtures/plugins/hold');

const manifestOf = <T = DeliverablesManifest>(dir: string) => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as T;
const listFiles = (dir: string, base = ''): string[] =>
  readdirSync(join(dir, base), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(dir, base ? `${base}/${e.name}` : e.name) : [base ? `${base}/${e.name}` : e.name]))
    .sort();
const lastLine = (stdout: string) => stdout.trimEnd().split('\n').pop()!;
/** The folder a `deliverables: DIR/ (…)` line names (qrun prints it relative to its working directory, the repository). */
const folderOf = (line: string) => resolve(REPO, /^deliverables: (\S+)\/ \(/.exec(line)?.[1] ?? '<no deliverables line>');

/** Every file in the folder but manifest.json is in the manifest, and has the sha256 it records. */
async function expectManifestTrue(dir: string): Promise<DeliverablesManifest> {
  const m = manifestOf(dir);
  expect(listFiles(dir)).toEqual([...m.files.map((f) => f.path), 'manifest.json'].sort());
  for (const f of m.files) {
    // A regular file of its own, never a link into the cache that gc could break.
    expect(lstatSync(join(dir, f.path)).isFile()).toBe(true);
    expect({ path: f.path, sha256: await sha256File(join(dir, f.path)), size: statSync(join(dir, f.path)).size }).toEqual({ path: f.path, sha256: f.sha256, size: f.size });
  }
  return m;
}

async function loads(model: string): Promise<void> {
  const session = await createSession(model, { optimization: 'disabled' });
  expect(session.inputNames).toContain('input_ids');
  await session.release();
}

describe('the deliverables of a real run (the shipped BERT model)', () => {
  const dir = tempDir();
  const file = join(dir, 'recipe.yaml');
  const cache = join(dir, '.qrun');
  const out = join(dir, 'out', 'langid');
  const recipe = (extra = '') =>
    writeFileSync(
      file,
      `name: langid
model: ${join(REPO, 'models/bert-langid')}
data:
  calibration: ${join(REPO, 'data/langid/calib.jsonl')}
  evaluation: ${join(REPO, 'data/langid/eval.jsonl')}
steps:
  - { id: load, uses: hf.load }
  - { id: qdq, uses: qdq.insert }
  - { id: calibrate, uses: calibrate, with: { method: minmax, samples: 32 } }
  - { id: save, uses: onnx.save }
  - { id: engine, uses: trtexec, optional: true }
  - { id: triton, uses: triton, with: { maxBatchSize: 8 } }
  - { id: bench, uses: bench, with: { samples: 64, shapes: [{ batch: 1, sequence: 16 }], warmup: 1, iterations: 4, blocks: 2 } }
${extra}`,
    );

  it('ends by naming out/<recipe name>/ beside the recipe, which holds the INT8 model, the Triton repository, the reports and a manifest whose sha256s are the files\'', async () => {
    recipe();
    const r = await qrun([file]);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.exitCode).toBe(0);
    expect(lastLine(r.stdout)).toMatch(/^deliverables: \S+\/ \(model\.onnx, triton\/, report\.json\/\.md\/\.html, manifest\.json\); not delivered: engine\.engine \(step skipped\)$/);
    expect(folderOf(lastLine(r.stdout))).toBe(out);

    const { report } = latestReport(cache);
    const m = await expectManifestTrue(out);
    expect(m.run).toMatchObject({ id: report.run.id, status: 'passed' });
    const save = step(report, 'save');
    expect(m.files.find((f) => f.path === 'model.onnx')).toMatchObject({ from: 'save.model', key: save.key, sha256: save.outputs.model!.sha256 });
    expect(m.files.filter((f) => f.from === 'triton.repository').map((f) => f.path)).toContain('triton/model/config.pbtxt');
    expect(m.missing).toEqual([{ from: 'engine.engine', reason: expect.stringMatching(/^step "engine" was skipped: trtexec not found/) }]);
    await loads(join(out, 'model.onnx'));

    // The reports say where, relative to the recipe's folder, in sight (not in a tooltip).
    const delivered = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as Report;
    expect(delivered.run.id).toBe(report.run.id);
    expect(report.deliverables).toMatchObject({ dir: 'out/langid', updated: true, fromRun: { id: report.run.id } });
    expect(report.deliverables!.files).toContainEqual({ path: 'out/langid/model.onnx', from: 'save.model', size: save.outputs.model!.size, sha256: save.outputs.model!.sha256 });
    expect(report.deliverables!.files).toContainEqual(expect.objectContaining({ path: 'out/langid/triton/', from: 'triton.repository' }));
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/## Deliverables\n[^]*\| `out\/langid\/model\.onnx` \| save\.model \|/);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    const visibleText = html.replace(/<[^>]*>/g, ' ');
    expect(visibleText).toMatch(/Deliverables/);
    expect(visibleText).toContain('out/langid/model.onnx');
    expect(visibleText).toContain('out/langid/triton/');
  });

  it('a second run replaces the folder whole: what the first delivered and this one does not is gone, nothing is left beside it', async () => {
    const before = statSync(out).ino;
    recipe('outputs:\n  - save.model\n  - { from: calibrate.stats, to: calibration/ranges.json }\n');
    const r = await qrun([file]);
    expect(r.exitCode).toBe(0);
    const { report } = latestReport(cache);
    const m = await expectManifestTrue(out);
    expect(m.run.id).toBe(report.run.id);
    expect(listFiles(out)).toEqual(['calibration/ranges.json', 'manifest.json', 'model.onnx', 'report.html', 'report.json', 'report.md']);
    expect(existsSync(join(out, 'triton'))).toBe(false);
    // Swapped by rename: another folder, and no stage or old copy beside it.
    expect(statSync(out).ino).not.toBe(before);
    expect(readdirSync(join(dir, 'out'))).toEqual(['langid']);
  });

  it('`qrun cache gc` does not break them: copies stay, and hard links (--out-mode link) outlive the entries they share a file with', async () => {
    recipe();
    const linked = join(dir, 'linked');
    const r = await qrun([file, '--out-mode', 'link', '--out', linked]);
    expect(r.exitCode).toBe(0);
    const store = new CacheStore(join(cache, 'cache'));
    const save = step(latestReport(cache).report, 'save');
    const entryModel = join(store.entryDir(save.key!), 'out', 'model.onnx');
    expect(statSync(join(linked, 'model.onnx')).ino).toBe(statSync(entryModel).ino);
    expect(manifestOf(linked).files.find((f) => f.path === 'model.onnx')).toMatchObject({ hardLink: true });
    expect(manifestOf(out).files.some((f) => f.hardLink)).toBe(false);

    const gc = await qrun(['cache', 'gc', '--cache', cache, '--keep-last', '0']);
    expect(gc.exitCode).toBe(0);
    expect(await store.keys()).toEqual([]);
    expect(existsSync(entryModel)).toBe(false);
    for (const folder of [out, linked]) {
      await expectManifestTrue(folder);
      await loads(join(folder, 'model.onnx'));
    }
    expect(statSync(join(linked, 'model.onnx')).nlink).toBe(1);
  });
});

// ---- with test plugins: fast, and able to fail on demand -----------------------------------------

function counterRecipe(dir: string, opts: { value?: string; behaviour?: string; outputs?: string; extra?: string } = {}): { file: string; counter: string } {
  const counter = join(dir, 'invocations.log');
  const file = join(dir, 'recipe.yaml');
  writeFileSync(
    file,
    `name: counter
steps:
  - { id: first, uses: ${COUNTER}, with: { counterFile: ${counter}, value: one } }
  - { id: second, uses: ${COUNTER}, with: { counterFile: ${counter}, value: "${opts.value ?? 'two'}", behaviour: ${opts.behaviour ?? 'ok'} } }
outputs: ${opts.outputs ?? '[second.out]'}
${opts.extra ?? ''}`,
  );
  return { file, counter };
}

const runs = (counter: string) => (existsSync(counter) ? readFileSync(counter, 'utf8').split('\n').filter((l) => l.endsWith(' start')).length : 0);

describe('when the deliverables are (not) replaced', () => {
  it('a failed run leaves the previous deliverables as they were and says whose they are', async () => {
    const dir = tempDir();
    const out = join(dir, 'out', 'counter');
    const { file } = counterRecipe(dir);
    expect((await qrun([file])).exitCode).toBe(0);
    const first = manifestOf(out);
    const bytes = readFileSync(join(out, 'manifest.json'), 'utf8');

    counterRecipe(dir, { value: 'three', behaviour: 'throw' });
    const r = await qrun([file]);
    expect(r.exitCode).toBe(1);
    expect(lastLine(r.stdout)).toMatch(new RegExp(`^deliverables in \\S*out/counter/ are from run ${first.run.id} \\(passed\\), not updated: the run failed$`));
    expect(readFileSync(join(out, 'manifest.json'), 'utf8')).toBe(bytes);
    expect(readFileSync(join(out, 'out.txt'), 'utf8')).toBe('two');
    const { report, dir: runDir } = latestReport(join(dir, '.qrun'));
    expect(report.deliverables).toMatchObject({ dir: 'out/counter', updated: false, reason: 'the run failed', fromRun: { id: first.run.id } });
    const said = `still holds the deliverables of run ${first.run.id} (passed); this run did not replace them: the run failed.`;
    expect(readFileSync(join(runDir, 'report.md'), 'utf8')).toContain(`## Deliverables: not updated\n\n\`out/counter/\` ${said.replace(first.run.id, `\`${first.run.id}\``)}`);
    expect(readFileSync(join(runDir, 'report.html'), 'utf8').replace(/<[^>]*>/g, '')).toContain(`out/counter/ ${said}`);
    await expectManifestTrue(out);
  });

  it('an interrupted run (SIGINT inside a step) leaves them too', async () => {
    const dir = tempDir();
    const out = join(dir, 'out', 'held');
    const started = join(dir, 'started');
    const release = join(dir, 'release');
    const file = join(dir, 'recipe.yaml');
    const write = (value: string) =>
      writeFileSync(file, `name: held\nsteps:\n  - { id: hold, uses: ${HOLD}, with: { started: ${started}, release: ${release}, value: ${value} } }\noutputs: [hold.out]\n`);
    write('first');
    writeFileSync(release, '');
    expect((await qrun([file])).exitCode).toBe(0);
    const bytes = readFileSync(join(out, 'manifest.json'), 'utf8');

    execFileSync('rm', [release, started]);
    write('second');
    const child = startQrun([file]);
    await waitFor(() => existsSync(started), 'the step started', { child });
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(lastLine(String(r.stdout))).toMatch(/^deliverables in \S*out\/held\/ are from run \S+ \(passed\), not updated: the run was interrupted$/);
    expect(readFileSync(join(out, 'manifest.json'), 'utf8')).toBe(bytes);
    expect(readFileSync(join(out, 'out.txt'), 'utf8')).toBe('first');
  });

  it('--until and --only runs that stop early leave them, naming the steps they did not reach', async () => {
    const dir = tempDir();
    const out = join(dir, 'out', 'counter');
    const { file } = counterRecipe(dir);
    expect((await qrun([file])).exitCode).toBe(0);
    const bytes = readFileSync(join(out, 'manifest.json'), 'utf8');
    counterRecipe(dir, { value: 'changed' });
    const until = await qrun([file, '--until', 'first']);
    expect(until.exitCode).toBe(0);
    expect(lastLine(until.stdout)).toMatch(/^deliverables in \S*out\/counter\/ are from run \S+ \(passed\), not updated: this run left out second \(--until\/--only\); a complete run replaces them$/);
    expect(readFileSync(join(out, 'manifest.json'), 'utf8')).toBe(bytes);
    // --only the last step reaches every step: a complete run, delivered.
    const only = await qrun([file, '--only', 'second']);
    expect(only.exitCode).toBe(0);
    expect(readFileSync(join(out, 'out.txt'), 'utf8')).toBe('changed');
  });

  it('a run whose gates failed is delivered (for debugging), with the verdict in the manifest and in the line', async () => {
    const dir = tempDir();
    const out = join(dir, 'out', 'counter');
    const { file } = counterRecipe(dir, { extra: 'gates:\n  second.length: ">= 10"\n' });
    const r = await qrun([file]);
    expect(r.exitCode).toBe(3);
    expect(lastLine(r.stdout)).toMatch(/^deliverables: \S+\/ \(out\.txt, report\.json\/\.md\/\.html, manifest\.json\) — from a run whose gates FAILED: for debugging, not for shipping$/);
    expect(manifestOf(out).run.status).toBe('gates-failed');
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/\*\*From a run that did not pass \(gates-failed\):\*\* for debugging, not for shipping\./);
  });

  it('a matrix gets one folder per variant beside the matrix report; a variant the matrix drops loses its folder', async () => {
    const dir = tempDir();
    const out = join(dir, 'out', 'counter');
    const write = (values: string) =>
      counterRecipe(dir, { value: '${{ matrix.value }}', extra: `matrix:\n  value: [${values}]\n` });
    const { file } = write('a, b');
    const r = await qrun([file]);
    expect(r.exitCode).toBe(0);
    expect(lastLine(r.stdout)).toMatch(/^deliverables: \S*out\/counter\/ \(one folder per variant: value=a\/, value=b\/; matrix\.md, matrix\.json, manifest\.json\)$/);
    expect(readdirSync(out).sort()).toEqual(['manifest.json', 'matrix.json', 'matrix.md', 'value=a', 'value=b']);
    for (const v of ['a', 'b']) {
      const m = await expectManifestTrue(join(out, `value=${v}`));
      expect(m.recipe.variant).toBe(`value=${v}`);
      expect(readFileSync(join(out, `value=${v}`, 'out.txt'), 'utf8')).toBe(v);
    }
    const top = manifestOf<MatrixManifest>(out);
    expect(top.matrix.variants.map((v) => [v.folder, v.label, v.run?.status])).toEqual([
      ['value=a', 'value=a', 'passed'],
      ['value=b', 'value=b', 'passed'],
    ]);
    expect(top.files.map((f) => f.path)).toEqual(['matrix.md', 'matrix.json']);
    for (const f of top.files) expect(await sha256File(join(out, f.path))).toBe(f.sha256);

    write('a');
    expect((await qrun([file])).exitCode).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['manifest.json', 'matrix.json', 'matrix.md', 'value=a']);
  });
});

describe('where the deliverables go', () => {
  it('--out DIR (relative to the working directory) and out: in the recipe (relative to the recipe) choose the folder', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'recipes'));
    const { file } = counterRecipe(join(dir, 'recipes'), { extra: 'out: ../shipped\n' });
    expect((await qrun([file])).exitCode).toBe(0);
    expect(manifestOf(join(dir, 'shipped')).files.map((f) => f.path)).toContain('out.txt');
    expect(existsSync(join(dir, 'recipes', 'out'))).toBe(false);
    const r = await qrun([file, '--out', 'flagged'], { cwd: dir });
    expect(r.exitCode).toBe(0);
    expect(lastLine(r.stdout)).toMatch(/^deliverables: flagged\/ \(/);
    expect(readFileSync(join(dir, 'flagged', 'out.txt'), 'utf8')).toBe('two');
  });

  it('refuses, before anything runs, a folder holding files qrun did not put there (exit 2), and leaves them alone', async () => {
    const dir = tempDir();
    const mine = join(dir, 'mine');
    execFileSync('mkdir', ['-p', mine]);
    writeFileSync(join(mine, 'thesis.tex'), 'years of work');
    const { file, counter } = counterRecipe(dir);
    const r = await qrun([file, '--out', mine]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/error OUT_DIR_NOT_OURS: the deliverables folder \S*mine holds thesis\.tex, which qrun did not put there/);
    expect(r.stderr).toMatch(/hint: choose another folder with --out DIR/);
    expect(runs(counter)).toBe(0);
    expect(readdirSync(mine)).toEqual(['thesis.tex']);
  });

  it('qrun validate finds an outputs: entry naming no step or output, at its line:col with a did-you-mean', async () => {
    const dir = tempDir();
    const { file } = counterRecipe(dir, { outputs: '[second.out, secnd.out, first.result]' });
    const r = await qrun(['validate', file]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`${file}:5:23: error RECIPE_BAD_REFERENCE: outputs: "secnd.out" names step "secnd", which the recipe does not have\n  hint: did you mean "second.out"? steps: first, second`);
    expect(r.stderr).toContain(`${file}:5:34: error RECIPE_BAD_REFERENCE: outputs: step "first" (counter) has no output "result"; its outputs: out`);
  });
});

describe('a full disk while delivering (tmpfs)', () => {
  const mountTmpfs = useTmpfs();

  it('is DISK_FULL naming the file, with the previous deliverables intact and no stage left; across file systems --out-mode link copies', async (ctx) => {
    const mnt = mountTmpfs('256k');
    ctx.skip(mnt === undefined, 'mounting a tmpfs needs root with CAP_SYS_ADMIN');
    const dir = tempDir();
    const out = join(mnt!, 'counter');
    const { file } = counterRecipe(dir);
    expect((await qrun([file, '--out', out, '--out-mode', 'link'])).exitCode).toBe(0);
    // The cache is on another file system: a hard link cannot cross it (EXDEV), so it is a copy.
    expect(manifestOf(out)).toMatchObject({ mode: 'link', files: expect.not.arrayContaining([expect.objectContaining({ hardLink: true })]) });
    const bytes = readFileSync(join(out, 'manifest.json'), 'utf8');

    counterRecipe(dir, { value: 'x'.repeat(400_000) });
    const r = await qrun([file, '--out', out]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`error DISK_FULL: cannot write the deliverables ${out}/out\\.txt: no space left on the device \\(ENOSPC\\)`));
    expect(r.stderr).not.toMatch(/internal error|bug in qrun/);
    expect(lastLine(r.stdout)).toMatch(/^deliverables in \S+counter\/ are from run \S+ \(passed\), not updated: DISK_FULL, see below$/);
    expect(readFileSync(join(out, 'manifest.json'), 'utf8')).toBe(bytes);
    expect(readFileSync(join(out, 'out.txt'), 'utf8')).toBe('two');
    expect(readdirSync(mnt!)).toEqual(['counter']);
  });
});
