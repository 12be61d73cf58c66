// The remote cache: the local store's entries shared through an S3-compatible bucket, under the same
// keys (which already hold tool versions, the platform and the CPU's kernel family: an entry built
// on an AVX-512 runner is never handed to an AVX2 one). Layout under the prefix:
//
//   v1/<key[0:2]>/<key>/out/<path>        every file of the entry's out/ folder
//   v1/<key[0:2]>/<key>/manifest.json     { format, manifest (the local one), files: {path: {sha256, size}} }
//
// Upload puts every file first and the manifest last: an object PUT is atomic, and a reader takes
// an entry only through its manifest, so a writer that dies half-way leaves files nobody reads,
// never half an entry. Download writes into a build folder of the local store, checks every file's
// sha256 against the manifest as it streams and every output's digest as the local store records
// it, and only then goes through the local store's own commit (an atomic rename): a damaged or
// tampered remote entry is never committed.
//
// When the store cannot be reached: a local run warns once and builds here (the results are the
// same, only slower), as Bazel does with a remote cache it cannot reach and Turborepo with its
// remote cache. A queue run (`strict`) fails instead: there the store is how artifacts move between
// machines, and building "locally" on a worker would hide the fault from everyone.
import { mkdir, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { formatDiagnostic, QrunError } from '../errors.ts';
import { digestPath } from '../util/hash.ts';
import { digestArtifact } from './artifact-digest.ts';
import type { CacheEntry, CacheStore, Manifest } from './store.ts';
import { parseS3Url, S3ObjectStore } from './s3-store.ts';

export type RemoteCacheMode = 'read' | 'write' | 'readwrite';

export const REMOTE_FORMAT = 'qrun-remote-entry/1';

export interface RemoteManifest {
  format: typeof REMOTE_FORMAT;
  manifest: Manifest;
  files: Record<string, { sha256: string; size: number }>;
}

/** What the remote cache did in this process, for the summary line. */
export interface RemoteCacheStats {
  downloaded: number;
  uploaded: number;
  rejected: number;
}

/** A relative path that stays inside the entry (a manifest from the store is input we did not write). */
function safeRelative(rel: string): boolean {
  const n = normalize(rel);
  return rel.length > 0 && !isAbsolute(rel) && n !== '..' && !n.startsWith(`..${sep}`) && !rel.includes('\\') && !rel.includes('\0');
}

class RemoteEntryDamaged extends Error {}

export class RemoteCache {
  readonly s3: S3ObjectStore;
  readonly stats: RemoteCacheStats = { downloaded: 0, uploaded: 0, rejected: 0 };
  /** Set after the first failure of a non-strict cache: the rest of the run builds here without retrying. */
  private off?: string;
  /** Keys whose remote entry was found damaged: publishing replaces them. */
  private readonly damaged = new Set<string>();

  constructor(
    readonly url: string,
    readonly mode: RemoteCacheMode = 'readwrite',
    readonly options: { strict?: boolean; where?: string; env?: NodeJS.ProcessEnv } = {},
  ) {
    this.s3 = new S3ObjectStore(parseS3Url(url, options.where ?? '--remote-cache'), options.env);
  }

  get reads(): boolean {
    return this.mode !== 'write';
  }

  get writes(): boolean {
    return this.mode !== 'read';
  }

  entryPath(key: string): string {
    return `v1/${key.slice(0, 2)}/${key}`;
  }

  /**
   * Checks once that the bucket answers. Strict: throws REMOTE_CACHE_UNREACHABLE. Otherwise returns
   * the warning to print, and the remote cache stays off for this run.
   */
  async probe(): Promise<string | undefined> {
    try {
      await this.s3.probe();
      return undefined;
    } catch (e) {
      if (this.options.strict || !(e instanceof QrunError)) throw e;
      this.off = formatDiagnostic(e.diagnostics[0]!);
      return `warning: ${this.off}\n  the remote cache is off for this run: every step that is not in the local cache is built here`;
    }
  }

  /**
   * The entry for `key` from the remote store, committed into the local store; undefined when the
   * store has none, or its entry is damaged (warned and not committed). Call it holding the key's
   * local lock, after the local lookup missed.
   */
  async fetch(key: string, store: CacheStore, warn: (message: string) => void): Promise<CacheEntry | undefined> {
    if (!this.reads || this.off) return undefined;
    try {
      const entry = await this.download(key, store);
      if (entry) this.stats.downloaded++;
      return entry;
    } catch (e) {
      if (e instanceof RemoteEntryDamaged) {
        this.stats.rejected++;
        this.damaged.add(key);
        warn(`the remote cache's entry ${key.slice(0, 12)} is damaged (${e.message}): not used, the step runs here`);
        return undefined;
      }
      return this.failed(e, warn);
    }
  }

  private async download(key: string, store: CacheStore): Promise<CacheEntry | undefined> {
    const base = this.entryPath(key);
    const text = await this.s3.getText(`${base}/manifest.json`);
    if (text === undefined) return undefined;
    let remote: RemoteManifest;
    try {
      remote = JSON.parse(text) as RemoteManifest;
    } catch {
      throw new RemoteEntryDamaged('its manifest.json is not JSON');
    }
    if (remote.format !== REMOTE_FORMAT || remote.manifest?.key !== key || typeof remote.files !== 'object') throw new RemoteEntryDamaged('its manifest.json is not a qrun entry for this key');
    const build = await store.newBuild(key);
    try {
      for (const [rel, want] of Object.entries(remote.files)) {
        if (!safeRelative(rel)) throw new RemoteEntryDamaged(`it names a file outside the entry (${rel})`);
        const file = join(build.outDir, rel);
        await mkdir(dirname(file), { recursive: true });
        const got = await this.s3.download(`${base}/out/${rel}`, file);
        if (!got) throw new RemoteEntryDamaged(`out/${rel} is missing`);
        if (got.sha256 !== want.sha256 || got.size !== want.size) throw new RemoteEntryDamaged(`out/${rel} does not match its sha256 in the manifest`);
      }
      // Every output as the local store digests it (a model with its data files, a folder's file list):
      // what lands in the local store is exactly what its own lookups will verify.
      for (const [name, out] of Object.entries(remote.manifest.outputs)) {
        if (!safeRelative(out.path)) throw new RemoteEntryDamaged(`output "${name}" is outside the entry`);
        const d = await digestArtifact(join(build.outDir, out.path), out.kind).catch(() => undefined);
        if (d?.sha256 !== out.sha256) throw new RemoteEntryDamaged(`output "${name}" (${out.path}) does not match its sha256`);
      }
    } catch (e) {
      await store.discard(build);
      throw e;
    }
    return store.commit(build, remote.manifest);
  }

  /**
   * Uploads a local entry: its files, then its manifest. An entry the store already has is left as
   * it is (same key, same content: another machine built it too), unless it was found damaged.
   */
  async publish(entry: CacheEntry, warn: (message: string) => void): Promise<void> {
    if (!this.writes || this.off) return;
    const key = entry.manifest.key;
    const base = this.entryPath(key);
    try {
      if (!this.damaged.has(key) && (await this.s3.exists(`${base}/manifest.json`))) return;
      const digests = (await digestPath(entry.outDir)).files ?? {};
      const files: RemoteManifest['files'] = {};
      for (const [rel, sha256] of Object.entries(digests)) {
        await this.s3.uploadFile(`${base}/out/${rel}`, join(entry.outDir, rel));
        files[rel] = { sha256, size: (await stat(join(entry.outDir, rel))).size };
      }
      const remote: RemoteManifest = { format: REMOTE_FORMAT, manifest: entry.manifest, files };
      // Last: from this PUT on, readers see the entry, whole.
      await this.s3.putText(`${base}/manifest.json`, JSON.stringify(remote, null, 2) + '\n');
      this.damaged.delete(key);
      this.stats.uploaded++;
    } catch (e) {
      this.failed(e, warn);
    }
  }

  /** A store failure: thrown when strict; otherwise warned once, and the remote cache is off from here on. */
  private failed(e: unknown, warn: (message: string) => void): undefined {
    if (this.options.strict || !(e instanceof QrunError)) throw e;
    this.off = formatDiagnostic(e.diagnostics[0]!);
    warn(`${this.off}\n  the remote cache is off for the rest of this run: steps are built here`);
    return undefined;
  }

  /** One line for the end of a run: what moved, or why nothing did. */
  summary(): string {
    const { downloaded, uploaded, rejected } = this.stats;
    if (this.off) return `remote cache ${this.url}: off (unreachable)`;
    return `remote cache ${this.url} (${this.mode}): ${downloaded} entr${downloaded === 1 ? 'y' : 'ies'} downloaded, ${uploaded} uploaded${rejected ? `, ${rejected} damaged and not used` : ''}`;
  }

  close(): void {
    this.s3.destroy();
  }
}

/** The remote cache a run uses: --remote-cache, else $QRUN_REMOTE_CACHE, else the recipe's `remoteCache:`. */
export function remoteCacheUrl(flag: string | undefined, recipeSetting: unknown): { url: string; where: string } | undefined {
  if (flag) return { url: flag, where: '--remote-cache' };
  if (process.env.QRUN_REMOTE_CACHE) return { url: process.env.QRUN_REMOTE_CACHE, where: 'QRUN_REMOTE_CACHE' };
  if (typeof recipeSetting === 'string' && recipeSetting) return { url: recipeSetting, where: 'remoteCache:' };
  return undefined;
}

/**
 * The run's remote cache, checked once: undefined when none is configured. Strict (a queue run):
 * an unreachable store throws; otherwise the warning goes to `warn` and the run builds locally.
 */
export async function openRemoteCache(
  o: { flag?: string; mode?: RemoteCacheMode; recipe: { raw: Record<string, unknown>; file: string }; strict?: boolean },
  warn: (line: string) => void,
): Promise<RemoteCache | undefined> {
  const chosen = remoteCacheUrl(o.flag, o.recipe.raw.remoteCache);
  if (!chosen) return undefined;
  const where = chosen.where === 'remoteCache:' ? `${o.recipe.file}: remoteCache` : chosen.where;
  const cache = new RemoteCache(chosen.url, o.mode ?? 'readwrite', { strict: o.strict, where });
  const warning = await cache.probe();
  if (warning) warn(warning);
  return cache;
}
