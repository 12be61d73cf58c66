// The remote cache against a real S3-protocol server (s3rver on loopback, the real AWS SDK): a
// download is verified file by file before the local store commits it, and an upload puts the
// manifest last, so a reader never takes half an entry.
import type { EventEmitter } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectFile, startS3Server, type S3TestServer } from '../../tests/helpers/s3-server.ts';
import { tempDir } from '../../tests/helpers/cli.ts';
import { digestArtifact } from './artifact-digest.ts';
import { RemoteCache } from './remote-cache.ts';
import { CacheStore, type CacheEntry, type Manifest } from './store.ts';

let s3: S3TestServer;
beforeAll(async () => {
  s3 = await startS3Server();
  // The SDK's default credential chain reads the process's environment, as it does in qrun.
  Object.assign(process.env, s3.env);
});
afterAll(async () => {
  await s3?.close();
});

const remote = (prefix: string, mode: 'read' | 'write' | 'readwrite' = 'readwrite', strict = false) =>
  new RemoteCache(`s3://${s3.bucket}/${prefix}`, mode, { strict, env: { ...s3.env } });

async function openStore(): Promise<CacheStore> {
  const store = new CacheStore(join(tempDir('qrun-remote-'), 'cache'));
  await store.init();
  return store;
}

/** A committed local entry with a file output and a folder output (two files, one nested). */
async function localEntry(store: CacheStore, key: string, text = 'weights'): Promise<CacheEntry> {
  const build = await store.newBuild(key);
  await writeFile(join(build.outDir, 'model.bin'), text);
  await mkdir(join(build.outDir, 'repo', 'sub'), { recursive: true });
  await writeFile(join(build.outDir, 'repo', 'config.pbtxt'), 'name: "m"');
  await writeFile(join(build.outDir, 'repo', 'sub', 'x.txt'), 'x');
  const file = await digestArtifact(join(build.outDir, 'model.bin'), 'file');
  const folder = await digestArtifact(join(build.outDir, 'repo'), 'folder');
  const manifest: Manifest = {
    key,
    plugin: 'test',
    pluginVersion: '1',
    keyMaterial: {},
    outputs: {
      model: { kind: 'file', path: 'model.bin', sha256: file.sha256, size: file.size },
      repo: { kind: 'folder', path: 'repo', sha256: folder.sha256, size: folder.size, files: folder.files },
    },
    metrics: { accuracy: 0.9 },
    createdAt: new Date().toISOString(),
    durationMs: 1,
  };
  return store.commit(build, manifest);
}

const KEY = 'ab'.repeat(32);

describe('remote cache', () => {
  it('a fresh local store gets the entry from the store, verified, through its own commit', async () => {
    const builder = await openStore();
    const entry = await localEntry(builder, KEY);
    const warnings: string[] = [];
    await remote('verified').publish(entry, (w) => warnings.push(w));
    const fresh = await openStore();
    const got = await remote('verified').fetch(KEY, fresh, (w) => warnings.push(w));
    expect(warnings).toEqual([]);
    expect(got?.manifest.metrics).toEqual({ accuracy: 0.9 });
    expect(readFileSync(join(fresh.entryDir(KEY), 'out', 'repo', 'sub', 'x.txt'), 'utf8')).toBe('x');
    // The local store's own verified lookup accepts it.
    expect((await fresh.lookup(KEY)).status).toBe('hit');
    expect(await fresh.tmpItems()).toEqual([]);
  });

  it('a tampered remote file is rejected: warned, nothing committed locally, and the next build replaces the entry', async () => {
    const builder = await openStore();
    const entry = await localEntry(builder, KEY);
    await remote('tampered').publish(entry, () => undefined);
    writeFileSync(objectFile(s3, `tampered/v1/ab/${KEY}/out/repo/sub/x.txt`), 'y');
    const fresh = await openStore();
    const warnings: string[] = [];
    const cache = remote('tampered');
    expect(await cache.fetch(KEY, fresh, (w) => warnings.push(w))).toBeUndefined();
    expect(warnings.join('\n')).toMatch(/damaged \(out\/repo\/sub\/x\.txt does not match its sha256/);
    expect(existsSync(fresh.entryDir(KEY))).toBe(false);
    expect(await fresh.tmpItems()).toEqual([]);
    // The machine that now builds the step uploads a good entry over the damaged one.
    await cache.publish(entry, (w) => warnings.push(w));
    expect(await remote('tampered').fetch(KEY, fresh, () => undefined)).toBeDefined();
  });

  it('uploads every file before the manifest, and a reader that sees no manifest sees no entry', async () => {
    const puts: string[] = [];
    const onEvent = (e: { Records: { s3: { object: { key: string } } }[] }) => puts.push(...e.Records.map((r) => decodeURIComponent(r.s3.object.key)));
    // s3rver emits S3 event notifications (ObjectCreated:Put) in the order the objects were stored.
    const events = s3.server as unknown as EventEmitter;
    events.on('event', onEvent);
    const builder = await openStore();
    await remote('order').publish(await localEntry(builder, KEY), () => undefined);
    events.off('event', onEvent);
    expect(puts.length).toBe(4);
    expect(puts.at(-1)).toBe(`order/v1/ab/${KEY}/manifest.json`);

    // A writer that died before its manifest: the files are there, the entry is not.
    const half = remote('half');
    for (const rel of ['model.bin', 'repo/config.pbtxt', 'repo/sub/x.txt']) await half.s3.uploadFile(`v1/ab/${KEY}/out/${rel}`, join(builder.entryDir(KEY), 'out', rel));
    const fresh = await openStore();
    expect(await remote('half').fetch(KEY, fresh, () => undefined)).toBeUndefined();
    expect(existsSync(fresh.entryDir(KEY))).toBe(false);
  });

  it('a file larger than one part goes up in parts and comes back whole', async () => {
    const builder = await openStore();
    const key = 'cd'.repeat(32);
    const big = Buffer.alloc(11 * 2 ** 20 + 3);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) % 251;
    const entry = await localEntry(builder, key, big.toString('latin1'));
    process.env.QRUN_REMOTE_CACHE_PART_MIB = '5';
    try {
      const puts: string[] = [];
      const events = s3.server as unknown as EventEmitter;
      const onEvent = (e: { Records: { eventName: string; s3: { object: { key: string } } }[] }) => puts.push(...e.Records.map((r) => `${r.eventName} ${decodeURIComponent(r.s3.object.key)}`));
      events.on('event', onEvent);
      await remote('parts').publish(entry, (w) => puts.push(`warning ${w}`));
      events.off('event', onEvent);
      // A multipart upload is completed by a POST (S3's CompleteMultipartUpload); a single PUT is ObjectCreated:Put.
      expect(puts.find((p) => p.includes('model.bin'))).toMatch(/^ObjectCreated:(Post|CompleteMultipartUpload) /);
    } finally {
      delete process.env.QRUN_REMOTE_CACHE_PART_MIB;
    }
    const fresh = await openStore();
    expect(await remote('parts').fetch(key, fresh, () => undefined)).toBeDefined();
    expect(readFileSync(join(fresh.entryDir(key), 'out', 'model.bin')).equals(readFileSync(join(builder.entryDir(key), 'out', 'model.bin')))).toBe(true);
  });

  it('read mode never uploads, write mode never downloads', async () => {
    const builder = await openStore();
    const entry = await localEntry(builder, KEY);
    await remote('modes', 'read').publish(entry, () => undefined);
    expect(await remote('modes').s3.exists(`v1/ab/${KEY}/manifest.json`)).toBe(false);
    await remote('modes', 'write').publish(entry, () => undefined);
    expect(await remote('modes', 'write').fetch(KEY, await openStore(), () => undefined)).toBeUndefined();
    expect(await remote('modes', 'read').fetch(KEY, await openStore(), () => undefined)).toBeDefined();
  });

  it('a store that cannot be reached: a named error when strict, one warning and local builds otherwise', async () => {
    const env = { ...s3.env, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' };
    const strict = new RemoteCache(`s3://${s3.bucket}/x`, 'readwrite', { strict: true, env });
    await expect(strict.probe()).rejects.toMatchObject({ code: 'REMOTE_CACHE_UNREACHABLE', message: expect.stringContaining(`s3://${s3.bucket}/x (endpoint http://127.0.0.1:9)`) });
    const lenient = new RemoteCache(`s3://${s3.bucket}/x`, 'readwrite', { env });
    const warnings: string[] = [];
    expect(await lenient.fetch(KEY, await openStore(), (w) => warnings.push(w))).toBeUndefined();
    expect(await lenient.fetch(KEY, await openStore(), (w) => warnings.push(w))).toBeUndefined();
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toMatch(/REMOTE_CACHE_UNREACHABLE[\s\S]*hint: check the endpoint[\s\S]*off for the rest of this run/);
  });

  it('refuses an address that is not s3://bucket/prefix', () => {
    expect(() => new RemoteCache('https://bucket/x')).toThrow(/not a remote cache address/);
    expect(() => new RemoteCache('s3://Bad_Bucket')).toThrow(/REMOTE_CACHE_URL|not a remote cache address/);
  });
});
