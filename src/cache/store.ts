// Content-addressed store of step outputs. An entry is a folder named by its key holding
// manifest.json and out/. Entries are built in tmp/<key>.build-*, and renamed into entries/, so a
// crash never leaves a half entry; a lock per key (src/cache/lock.ts) keeps two processes from
// building the same key twice and tells `qrun cache gc` which entries and builds are in use.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errors, QrunError } from '../errors.ts';
import type { ArtifactKind } from '../engine/plugin.ts';
import { digestArtifact, isDamagedModel } from './artifact-digest.ts';
import { acquireLock, inspectLock, tryLock, type HeldLock, type LockHolder, type LockState } from './lock.ts';

export interface ManifestOutput {
  kind: ArtifactKind;
  /** Relative to the entry's out/ folder. */
  path: string;
  sha256: string;
  size: number;
  /** For folder outputs: digest of each file, verified on every hit. */
  files?: Record<string, string>;
}

export interface Manifest {
  key: string;
  plugin: string;
  pluginVersion: string;
  /** Everything the key was computed from, so `qrun plan` can say what changed. */
  keyMaterial: Record<string, unknown>;
  outputs: Record<string, ManifestOutput>;
  metrics: Record<string, unknown>;
  createdAt: string;
  durationMs: number;
}

export interface CacheEntry {
  dir: string;
  outDir: string;
  manifest: Manifest;
}

export type Lookup = { status: 'hit'; entry: CacheEntry } | { status: 'miss' } | { status: 'corrupt'; reason: string };

/** A folder in tmp/ and the key it belongs to: `<key>.build-*` (a build), `<key>.old-*` (being deleted). */
export interface TmpItem {
  name: string;
  path: string;
  key?: string;
}

/**
 * The Cache Directory Tagging standard (https://bford.info/cachedir/): backup tools skip the folder,
 * and `qrun cache gc` deletes only in a folder that carries it (with the qrun line).
 */
const CACHEDIR_TAG = [
  'Signature: 8a477f597d28d172789f06886806bc55',
  '# This file is a cache directory tag created by qrun.',
  '# qrun cache: step outputs by key; anything here is rebuilt when needed and `qrun cache gc` may delete it.',
  '# For information about cache directory tags, see https://bford.info/cachedir/',
  '',
].join('\n');

const isNotFound = (e: unknown) => ['ENOENT', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '');
const reasonOf = (e: unknown) => `${(e as NodeJS.ErrnoException).code ?? 'error'}: ${(e as Error).message}`;

export class CacheStore {
  readonly entriesDir: string;
  readonly tmpDir: string;
  readonly locksDir: string;
  readonly markerFile: string;

  constructor(readonly root: string) {
    this.entriesDir = join(root, 'entries');
    this.tmpDir = join(root, 'tmp');
    this.locksDir = join(root, 'locks');
    this.markerFile = join(root, 'CACHEDIR.TAG');
  }

  async init(): Promise<void> {
    try {
      for (const d of [this.entriesDir, this.tmpDir, this.locksDir]) await mkdir(d, { recursive: true });
      await this.writeMarker();
      const probe = join(this.tmpDir, `.probe-${process.pid}-${randomBytes(4).toString('hex')}`);
      await writeFile(probe, '');
      await rm(probe);
    } catch (e) {
      throw errors.cacheUnwritable(this.root, (e as Error).message);
    }
  }

  async writeMarker(): Promise<void> {
    await writeFile(this.markerFile, CACHEDIR_TAG, { flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }

  /** Whether this folder carries qrun's cache tag. */
  async hasMarker(): Promise<boolean> {
    const text = await readFile(this.markerFile, 'utf8').catch(() => '');
    return text.startsWith('Signature: 8a477f597d28d172789f06886806bc55') && /qrun/.test(text);
  }

  entryDir(key: string): string {
    return join(this.entriesDir, key.slice(0, 2), key);
  }

  lockFile(key: string): string {
    return join(this.locksDir, `${key}.lock`);
  }

  /**
   * The manifest of `key`, or undefined when it is missing or is not JSON (the entry is damaged).
   * A manifest that exists but cannot be read (EACCES, EMFILE, EIO, …) is not evidence of damage:
   * that throws CACHE_READ_FAILED, so nobody evicts an entry because of a passing read error.
   */
  async readManifest(key: string): Promise<Manifest | undefined> {
    const file = join(this.entryDir(key), 'manifest.json');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw errors.cacheReadFailed(file, reasonOf(e));
    }
    try {
      return JSON.parse(text) as Manifest;
    } catch {
      return undefined;
    }
  }

  /**
   * A hit is verified file by file against the manifest. Only a verified mismatch — manifest missing
   * or not JSON, another key, an output missing or with another sha256 — makes an entry 'corrupt';
   * a file that cannot be read throws CACHE_READ_FAILED naming it. `touch` marks the entry as used
   * now (its manifest's mtime), which `qrun cache gc` reads to keep what live runs use.
   */
  async lookup(key: string, opts: { verify?: boolean; touch?: boolean } = {}): Promise<Lookup> {
    const dir = this.entryDir(key);
    if (!existsSync(dir)) return { status: 'miss' };
    const manifest = await this.readManifest(key);
    if (!manifest) return { status: 'corrupt', reason: 'manifest.json is missing or is not JSON' };
    if (manifest.key !== key) return { status: 'corrupt', reason: `manifest.json is for another key (${String(manifest.key).slice(0, 12)})` };
    const outDir = join(dir, 'out');
    if (opts.verify !== false) {
      for (const [name, out] of Object.entries(manifest.outputs)) {
        const p = join(outDir, out.path);
        let sha256: string;
        try {
          sha256 = (await digestArtifact(p, out.kind)).sha256;
        } catch (e) {
          if (isNotFound(e)) return { status: 'corrupt', reason: `output "${name}" (${out.path}) is missing` };
          // A model whose data file went missing or short is damage too: rebuilt, like a changed file.
          if (isDamagedModel(e)) return { status: 'corrupt', reason: `output "${name}" (${out.path}): ${e.message}` };
          if (e instanceof QrunError) throw e;
          throw errors.cacheReadFailed(p, reasonOf(e));
        }
        if (sha256 !== out.sha256) return { status: 'corrupt', reason: `output "${name}" (${out.path}) does not match its sha256` };
      }
    }
    if (opts.touch) {
      const now = new Date();
      await utimes(join(dir, 'manifest.json'), now, now).catch(() => undefined);
    }
    return { status: 'hit', entry: { dir, outDir, manifest } };
  }

  /**
   * Removes an entry: renamed into tmp/ first, so a reader never sees it half-deleted. Returns
   * whether there was an entry to remove. Call it holding the key's lock.
   */
  async evict(key: string): Promise<boolean> {
    const trash = join(this.tmpDir, `${key}.old-${randomBytes(4).toString('hex')}`);
    try {
      await rename(this.entryDir(key), trash);
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
    await rm(trash, { recursive: true, force: true });
    return true;
  }

  /**
   * A fresh build folder named by its key (gc tells a live build by the key's lock): out/ and
   * scratch/. Call it holding the key's lock: any other folder of this key in tmp/ was left by a
   * holder that died (killed mid-step), and is removed.
   */
  async newBuild(key: string): Promise<{ dir: string; outDir: string; scratchDir: string }> {
    for (const item of await this.tmpItems()) if (item.key === key) await rm(item.path, { recursive: true, force: true });
    const dir = join(this.tmpDir, `${key}.build-${randomBytes(4).toString('hex')}`);
    const outDir = join(dir, 'out');
    const scratchDir = join(dir, 'scratch');
    await mkdir(outDir, { recursive: true });
    await mkdir(scratchDir, { recursive: true });
    return { dir, outDir, scratchDir };
  }

  /**
   * Writes the manifest and renames the build into place; returns the entry that is on disk after.
   * With `replace` (the step was forced, its entry damaged, or it is never a cache hit) an existing
   * entry is swapped out: renamed aside, the build renamed in, the old one deleted. Without it, an
   * existing entry is a concurrent winner (possible only when this process lost its lock): the
   * build is dropped and the winner's manifest returned, never one that is not on disk.
   */
  async commit(build: { dir: string; scratchDir: string }, manifest: Manifest, opts: { replace?: boolean } = {}): Promise<CacheEntry> {
    await rm(build.scratchDir, { recursive: true, force: true });
    await writeFile(join(build.dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    const target = this.entryDir(manifest.key);
    const ours: CacheEntry = { dir: target, outDir: join(target, 'out'), manifest };
    await mkdir(join(this.entriesDir, manifest.key.slice(0, 2)), { recursive: true });
    if (await this.renameIn(build.dir, target)) return ours;
    if (!opts.replace) {
      const theirs = await this.readManifest(manifest.key);
      if (theirs?.key === manifest.key) {
        await this.discard(build);
        return { dir: target, outDir: join(target, 'out'), manifest: theirs };
      }
      // Theirs is damaged: ours replaces it.
    }
    const aside = join(this.tmpDir, `${manifest.key}.old-${randomBytes(4).toString('hex')}`);
    await rename(target, aside).catch((e) => {
      if (!isNotFound(e)) throw e;
    });
    try {
      if (!(await this.renameIn(build.dir, target))) throw new Error(`${target} was recreated while it was being replaced`);
    } catch (e) {
      await rename(aside, target).catch(() => undefined);
      await this.discard(build);
      throw e;
    }
    await rm(aside, { recursive: true, force: true });
    return ours;
  }

  /** Renames `from` to `to`; false when `to` is an entry already (rename onto a non-empty folder fails). */
  private async renameIn(from: string, to: string): Promise<boolean> {
    try {
      await rename(from, to);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
      throw e;
    }
  }

  async discard(build: { dir: string }): Promise<void> {
    await rm(build.dir, { recursive: true, force: true });
  }

  /**
   * Takes the lock for `key`, waiting while a live process holds it (at most QRUN_LOCK_TIMEOUT
   * seconds). A lock whose holder stopped its heartbeat, or provably exited, is taken over.
   */
  lock(key: string, onWait?: (holder: LockHolder | undefined, file: string) => void, signal?: AbortSignal): Promise<HeldLock> {
    const file = this.lockFile(key);
    return acquireLock(file, (holder) => onWait?.(holder, file), signal);
  }

  /** The lock for `key` if nobody holds it now (gc: an entry or build whose lock is held is in use). */
  tryLock(key: string): Promise<HeldLock | undefined> {
    return tryLock(this.lockFile(key));
  }

  inspectLock(key: string): Promise<LockState> {
    return inspectLock(this.lockFile(key));
  }

  async keys(): Promise<string[]> {
    const out: string[] = [];
    for (const prefix of await readdir(this.entriesDir).catch(() => [])) {
      for (const key of await readdir(join(this.entriesDir, prefix)).catch(() => [])) out.push(key);
    }
    return out.sort();
  }

  /** What is in tmp/, with the key each build or removal belongs to. */
  async tmpItems(): Promise<TmpItem[]> {
    const names = await readdir(this.tmpDir).catch(() => []);
    return names.map((name) => ({ name, path: join(this.tmpDir, name), key: /^([0-9a-f]{16,})\.(build|old)-[0-9a-f]+$/.exec(name)?.[1] }));
  }
}
