// Bad input gets a clear error (code, file:line:col, hint), a non-zero exit, and loses nothing.
import { copyFileSync, cpSync, mkdirSync, writeFileSync, readFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CacheStore } from '../../src/cache/store.ts';
import { qrun, REPO, tempDir } from '../helpers/cli.ts';

const MODEL = join(REPO, 'models/bert-langid');
const CALIB = join(REPO, 'data/langid/calib.jsonl');

function writeRecipe(dir: string, body: string): string {
  const file = join(dir, 'recipe.yaml');
  writeFileSync(file, body);
  return file;
}

const quickRecipe = (model: string, calib = CALIB) => `version: 1
name: quick
model: ${model}
data:
  calibration: ${calib}
steps:
  - id: load
    uses: hf.load
  - id: patch
    uses: patch
  - id: qdq
    uses: qdq.insert
  - id: calibrate
    uses: calibrate
    with: { method: minmax }
`;

describe('bad input', () => {
  it('malformed YAML: exit 2 with file:line:col', async () => {
    const dir = tempDir();
    const file = writeRecipe(dir, 'name: x\nsteps:\n  - uses: hf.load\n    with: {a: 1\n');
    const r = await qrun([file, '--cache', join(dir, 'c')]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`${file.replace(/[.]/g, '\\.')}:\\d+:\\d+: error RECIPE_YAML`));
  });

  it('unknown step option: points at the key and suggests the right one', async () => {
    const dir = tempDir();
    const file = writeRecipe(dir, `name: x\nmodel: ${MODEL}\ndata: { calibration: ${CALIB} }\nsteps:\n  - uses: hf.load\n  - uses: qdq.insert\n  - uses: calibrate\n    with:\n      methd: minmax\n`);
    const r = await qrun([file, '--cache', join(dir, 'c')]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`${file}:9:7: error RECIPE_OPTION: unknown key "methd"`);
    expect(r.stderr).toContain('did you mean "method"?');
  });

  it('unknown plugin: suggests the closest built-in', async () => {
    const dir = tempDir();
    const file = writeRecipe(dir, 'name: x\nsteps:\n  - uses: qdq.insrt\n');
    const r = await qrun([file, '--cache', join(dir, 'c')]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`${file}:3:11: error RECIPE_UNKNOWN_PLUGIN`);
    expect(r.stderr).toContain('did you mean "qdq.insert"?');
  });

  it('missing recipe file: exit 2 with a hint', async () => {
    const r = await qrun(['recipes/nope.yaml']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/RECIPE_NOT_FOUND.*recipes\/nope\.yaml/);
  });

  it('missing model directory: names the recipe line; exit 1', async () => {
    const dir = tempDir();
    const file = writeRecipe(dir, quickRecipe(join(dir, 'no-such-model')));
    const r = await qrun([file, '--cache', join(dir, 'c')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`${file}:3:8: error FILE_NOT_FOUND: step "load" (hf.load) failed: model not found: ${join(dir, 'no-such-model')}`);
  });

  it('a corrupt ONNX file fails clearly and every earlier cache entry stays intact', async () => {
    const dir = tempDir();
    const cache = join(dir, 'c');
    const ok = writeRecipe(dir, quickRecipe(MODEL));
    expect((await qrun([ok, '--cache', cache])).exitCode).toBe(0);
    const store = new CacheStore(join(cache, 'cache'));
    const before = await store.keys();
    expect(before.length).toBe(4);

    const broken = join(dir, 'model');
    cpSync(MODEL, broken, { recursive: true });
    truncateSync(join(broken, 'onnx/model.onnx'), 1000);
    const bad = join(dir, 'bad');
    mkdirSync(bad);
    const file = writeRecipe(bad, quickRecipe(broken));
    const r = await qrun([file, '--cache', cache]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/error ONNX_CORRUPT: step "load" \(hf\.load\) failed: cannot read ONNX model .*model\.onnx/);
    expect(r.stderr).toMatch(/hint: re-export the model/);
    expect(await store.keys()).toEqual(before);
    for (const key of before) expect((await store.lookup(key)).status).toBe('hit');
  });

  it('an empty calibration set fails at its data file', async () => {
    const dir = tempDir();
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, '\n');
    const file = writeRecipe(dir, quickRecipe(MODEL, empty));
    const r = await qrun([file, '--cache', join(dir, 'c')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`error DATA_EMPTY: step "load" (hf.load) failed: data set ${empty} has no samples`);
  });

  it('a data line that is not JSON names the file and line', async () => {
    const dir = tempDir();
    const data = join(dir, 'calib.jsonl');
    copyFileSync(CALIB, data);
    writeFileSync(data, readFileSync(CALIB, 'utf8').split('\n').slice(0, 3).join('\n') + '\n{"text": oops}\n');
    const file = writeRecipe(dir, quickRecipe(MODEL, data));
    const r = await qrun([file, '--cache', join(dir, 'c')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`${data}:4:1: error DATA_INVALID`);
  });
});

describe('bad input keeps the cache', () => {
  it('a missing data file names the recipe line, and earlier entries stay intact (QRUN_CACHE)', async () => {
    const dir = tempDir();
    const cache = join(dir, 'shared-cache');
    const ok = writeRecipe(dir, quickRecipe(MODEL));
    expect((await qrun([ok], { env: { QRUN_CACHE: cache } })).exitCode).toBe(0);
    const store = new CacheStore(join(cache, 'cache'));
    const before = await store.keys();
    expect(before).toHaveLength(4);
    const bad = join(dir, 'bad');
    mkdirSync(bad);
    const file = writeRecipe(bad, quickRecipe(MODEL, join(dir, 'missing.jsonl')));
    const r = await qrun([file], { env: { QRUN_CACHE: cache } });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`${file}:5:16: error FILE_NOT_FOUND: step "load" (hf.load) failed: data set "calibration" not found: ${join(dir, 'missing.jsonl')}`);
    expect(await store.keys()).toEqual(before);
    for (const key of before) expect((await store.lookup(key)).status).toBe('hit');
  });
});
