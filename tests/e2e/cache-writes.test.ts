// What a run leaves in the cache is what its report says (issue 11, items 5 and 8): a forced build
// replaces the entry (a damaged saved model does not survive `--force save`), and a manifest qrun
// cannot read is a read error that fails the step and keeps the entry, not damage to evict.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CacheStore } from '../../src/cache/store.ts';
import { digestPath } from '../../src/util/hash.ts';
import { qrun, REPO, tempDir } from '../helpers/cli.ts';
import { latestReport, step } from '../helpers/report.ts';

/** Every artifact of the newest report has, on disk, the sha256 the report states. */
async function artifactsMatchReport(cache: string): Promise<void> {
  const { report } = latestReport(cache);
  for (const s of report.steps) {
    for (const [name, out] of Object.entries(s.outputs)) {
      expect((await digestPath(join(cache, 'cache', out.path))).sha256, `${s.id}.${name}`).toBe(out.sha256);
    }
  }
}

describe('forced builds replace the entry', () => {
  it('--force save after one byte of the cached model was damaged: the model on disk is the new build, with the sha256 report.json states', async () => {
    const cache = join(tempDir(), 'c');
    const recipe = join(REPO, 'recipes/bert-int8.yaml');
    expect((await qrun([recipe, '--cache', cache, '--until', 'save'])).exitCode).toBe(0);
    await artifactsMatchReport(cache);
    const saved = step(latestReport(cache).report, 'save').outputs;
    const model = Object.values(saved).find((o) => o.path.endsWith('.onnx'))!;
    const file = join(cache, 'cache', model.path);
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1]! ^= 0xff;
    writeFileSync(file, bytes);

    const forced = await qrun([recipe, '--cache', cache, '--until', 'save', '--force', 'save']);
    expect(forced.exitCode, forced.stderr).toBe(0);
    const { report } = latestReport(cache);
    expect(step(report, 'save').status).toBe('ran');
    await artifactsMatchReport(cache);
    expect(readFileSync(file).equals(bytes)).toBe(false);
  }, 120_000);

  it('--from replaces every entry it rebuilds', async () => {
    const dir = tempDir();
    const cache = join(dir, 'c');
    const file = join(dir, 'recipe.yaml');
    const counter = join(REPO, 'tests/fixtures/plugins/counter');
    writeFileSync(
      file,
      `name: from
steps:
  - { id: first, uses: ${counter}, with: { counterFile: ${join(dir, 'n.log')}, value: one } }
  - { id: second, uses: ${counter}, with: { counterFile: ${join(dir, 'n.log')}, value: two } }
`,
    );
    expect((await qrun([file, '--cache', cache])).exitCode).toBe(0);
    for (const s of latestReport(cache).report.steps) writeFileSync(join(cache, 'cache', s.outputs.out!.path), 'damaged');
    expect((await qrun([file, '--cache', cache, '--from', 'first'])).exitCode).toBe(0);
    await artifactsMatchReport(cache);
  }, 60_000);
});

describe('a read error is not damage', () => {
  it('a manifest qrun may not read (EACCES) fails the step naming the file, and the entry is kept as it is', async () => {
    const dir = tempDir();
    chmodSync(dir, 0o777);
    // As root every file is readable: run qrun as another user, for whom mode 000 means EACCES.
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const cache = join(dir, 'c');
    const file = join(dir, 'recipe.yaml');
    const counter = join(REPO, 'tests/fixtures/plugins/counter');
    writeFileSync(
      file,
      `name: eacces
steps:
  - { id: only, uses: ${counter}, with: { counterFile: ${join(dir, 'n.log')}, value: one } }
`,
    );
    expect((await qrun([file, '--cache', cache], asUser)).exitCode).toBe(0);
    const key = step(latestReport(cache).report, 'only').key!;
    const store = new CacheStore(join(cache, 'cache'));
    const manifest = join(store.entryDir(key), 'manifest.json');
    const before = readFileSync(manifest, 'utf8');
    chmodSync(manifest, 0o000);

    const r = await qrun([file, '--cache', cache], asUser);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`error CACHE_READ_FAILED: step "only" (counter) failed: cannot read ${manifest}: EACCES`);
    expect(r.stderr).toMatch(/hint: the cache entry was left as it is/);
    chmodSync(manifest, 0o644);
    expect(readFileSync(manifest, 'utf8')).toBe(before);
    expect((await store.lookup(key)).status).toBe('hit');
  }, 60_000);
});
