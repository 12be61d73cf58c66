// The store on a real folder: what commit leaves on disk, what counts as damage and what is only a
// read error, and what evict reports.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../../tests/helpers/temp.ts';
import { digestPath } from '../util/hash.ts';
import { CacheStore, type Manifest } from './store.ts';

const dir = useTempDir();
let n = 0;

async function freshStore(): Promise<CacheStore> {
  const store = new CacheStore(join(dir, `store-${n++}`));
  await store.init();
  return store;
}

const KEY = 'ab'.repeat(32);

/** Builds `text` as out.txt under KEY and commits it, as the executor does. */
async function build(store: CacheStore, text: string, opts: { replace?: boolean } = {}) {
  const b = await store.newBuild(KEY);
  writeFileSync(join(b.outDir, 'out.txt'), text);
  const d = await digestPath(join(b.outDir, 'out.txt'));
  const manifest: Manifest = {
    key: KEY,
    plugin: 'test',
    pluginVersion: '1',
    keyMaterial: {},
    outputs: { out: { kind: 'file', path: 'out.txt', sha256: d.sha256, size: d.size } },
    metrics: { text },
    createdAt: new Date().toISOString(),
    durationMs: 1,
  };
  return { manifest, entry: await store.commit(b, manifest, opts) };
}

describe('commit', () => {
  it('a forced build (replace) swaps out a damaged entry: the files on disk are the new build, as the manifest says', async () => {
    const store = await freshStore();
    await build(store, 'old');
    const out = join(store.entryDir(KEY), 'out', 'out.txt');
    writeFileSync(out, 'olD'); // one byte damaged
    const { manifest, entry } = await build(store, 'new', { replace: true });
    expect(readFileSync(out, 'utf8')).toBe('new');
    expect(entry.manifest).toEqual(manifest);
    expect((await store.lookup(KEY)).status).toBe('hit');
    expect(await store.tmpItems()).toEqual([]);
  });

  it('onto an existing entry without replace (a concurrent winner) returns the manifest on disk, not the one it was given', async () => {
    const store = await freshStore();
    const first = await build(store, 'winner');
    const { manifest, entry } = await build(store, 'loser');
    expect(manifest.metrics.text).toBe('loser');
    expect(entry.manifest).toEqual(first.manifest);
    expect(readFileSync(join(entry.outDir, 'out.txt'), 'utf8')).toBe('winner');
    expect(await store.tmpItems()).toEqual([]);
  });
});

describe('lookup: only a verified mismatch is damage', () => {
  it('a manifest.json that cannot be read (a folder in its place: EISDIR) throws CACHE_READ_FAILED naming it, and nothing is evicted', async () => {
    const store = await freshStore();
    await build(store, 'x');
    const manifest = join(store.entryDir(KEY), 'manifest.json');
    rmSync(manifest);
    mkdirSync(manifest);
    await expect(store.lookup(KEY)).rejects.toMatchObject({ code: 'CACHE_READ_FAILED', message: expect.stringContaining(`cannot read ${manifest}: EISDIR`) });
    expect(await store.keys()).toEqual([KEY]);
  });

  it('a manifest that is not JSON, or is for another key, or an output whose bytes changed, is damage', async () => {
    const store = await freshStore();
    await build(store, 'x');
    const manifest = join(store.entryDir(KEY), 'manifest.json');
    const good = readFileSync(manifest, 'utf8');
    writeFileSync(manifest, good.slice(0, 20));
    expect(await store.lookup(KEY)).toEqual({ status: 'corrupt', reason: 'manifest.json is missing or is not JSON' });
    writeFileSync(manifest, good.replace(`"key": "${KEY}"`, `"key": "${'cd'.repeat(32)}"`));
    expect(await store.lookup(KEY)).toMatchObject({ status: 'corrupt', reason: expect.stringMatching(/another key/) });
    writeFileSync(manifest, good);
    writeFileSync(join(store.entryDir(KEY), 'out', 'out.txt'), 'y');
    expect(await store.lookup(KEY)).toMatchObject({ status: 'corrupt', reason: expect.stringMatching(/does not match its sha256/) });
    rmSync(join(store.entryDir(KEY), 'out', 'out.txt'));
    expect(await store.lookup(KEY)).toMatchObject({ status: 'corrupt', reason: expect.stringMatching(/is missing/) });
  });
});

describe('newBuild', () => {
  it('removes the build folders of its key that a killed holder left (the caller holds the key lock)', async () => {
    const store = await freshStore();
    const left = await store.newBuild(KEY);
    const other = await store.newBuild('cd'.repeat(32));
    await store.newBuild(KEY);
    expect((await store.tmpItems()).map((i) => i.path).sort()).not.toContain(left.dir);
    expect((await store.tmpItems()).map((i) => i.path)).toContain(other.dir);
    expect(await store.tmpItems()).toHaveLength(2);
  });
});

describe('evict', () => {
  it('says whether it removed anything (gc counts only what it removed)', async () => {
    const store = await freshStore();
    await build(store, 'x');
    expect(await store.evict(KEY)).toBe(true);
    expect(await store.evict(KEY)).toBe(false);
    expect(await store.keys()).toEqual([]);
  });
});

describe('marker', () => {
  it('init tags the cache folder (Cache Directory Tagging, with a qrun line)', async () => {
    const store = await freshStore();
    expect(readFileSync(store.markerFile, 'utf8')).toMatch(/^Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by qrun\./);
    expect(await store.hasMarker()).toBe(true);
  });
});
