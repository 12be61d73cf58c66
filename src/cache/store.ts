// Content-addressed store of step outputs. An entry is a folder named by its key holding
// manifest.json and out/. Entries are built in tmp/ and renamed into entries/, so a crash never
// leaves a half entry; a lock per key keeps two processes from building the same key twice.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../errors.ts';
import type { ArtifactKind } from '../engine/plugin.ts';
import { digestPath } from '../util/hash.ts';

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

export class CacheStore {
  readonly entriesDir: string;
  readonly tmpDir: string;
  readonly locksDir: string;

  constructor(readonly root: string) {
    this.entriesDir = join(root, 'entries');
    this.tmpDir = join(root, 'tmp');
    this.locksDir = join(root, 'locks');
  }

  async init(): Promise<void> {
    try {
      for (const d of [this.entriesDir, this.tmpDir, this.locksDir]) await mkdir(d, { recursive: true });
      const probe = join(this.tmpDir, `.probe-${process.pid}`);
      await writeFile(probe, '');
      await rm(probe);
    } catch (e) {
      throw errors.cacheUnwritable(this.root, (e as Error).message);
    }
  }

  entryDir(key: string): string {
    return join(this.entriesDir, key.slice(0, 2), key);
  }

  async readManifest(key: string): Promise<Manifest | undefined> {
    try {
      return JSON.parse(await readFile(join(this.entryDir(key), 'manifest.json'), 'utf8')) as Manifest;
    } catch {
      return undefined;
    }
  }

  /** A hit is verified file by file against the manifest; a damaged entry is reported, not used. */
  async lookup(key: string, opts: { verify?: boolean } = {}): Promise<Lookup> {
    const dir = this.entryDir(key);
    if (!existsSync(dir)) return { status: 'miss' };
    const manifest = await this.readManifest(key);
    if (!manifest || manifest.key !== key) return { status: 'corrupt', reason: 'manifest.json is missing or unreadable' };
    const outDir = join(dir, 'out');
    if (opts.verify !== false) {
      for (const [name, out] of Object.entries(manifest.outputs)) {
        const p = join(outDir, out.path);
        if (!existsSync(p)) return { status: 'corrupt', reason: `output "${name}" (${out.path}) is missing` };
        const d = await digestPath(p);
        if (d.sha256 !== out.sha256) return { status: 'corrupt', reason: `output "${name}" (${out.path}) does not match its sha256` };
      }
    }
    return { status: 'hit', entry: { dir, outDir, manifest } };
  }

  /** Moves a damaged entry out of the way (renamed first, so a reader never sees it half-deleted). */
  async evict(key: string): Promise<void> {
    const dir = this.entryDir(key);
    const trash = join(this.tmpDir, `evicted-${key}-${randomBytes(4).toString('hex')}`);
    await rename(dir, trash).catch(() => undefined);
    await rm(trash, { recursive: true, force: true });
  }

  /** A fresh build folder: out/ for the outputs and scratch/ for temporary files. */
  async newBuild(key: string): Promise<{ dir: string; outDir: string; scratchDir: string }> {
    const dir = join(this.tmpDir, `${key.slice(0, 16)}-${process.pid}-${randomBytes(4).toString('hex')}`);
    const outDir = join(dir, 'out');
    const scratchDir = join(dir, 'scratch');
    await mkdir(outDir, { recursive: true });
    await mkdir(scratchDir, { recursive: true });
    return { dir, outDir, scratchDir };
  }

  /** Writes the manifest and renames the build into place. If another process won, keeps theirs. */
  async commit(build: { dir: string; scratchDir: string }, manifest: Manifest): Promise<CacheEntry> {
    await rm(build.scratchDir, { recursive: true, force: true });
    await writeFile(join(build.dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    const target = this.entryDir(manifest.key);
    await mkdir(join(this.entriesDir, manifest.key.slice(0, 2)), { recursive: true });
    try {
      await rename(build.dir, target);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      await rm(build.dir, { recursive: true, force: true });
    }
    return { dir: target, outDir: join(target, 'out'), manifest };
  }

  async discard(build: { dir: string }): Promise<void> {
    await rm(build.dir, { recursive: true, force: true });
  }

  /**
   * Takes the lock for `key`, waiting while a live process holds it. A lock whose process is gone
   * (killed mid-step) is taken over. Returns the release function.
   */
  async lock(key: string, onWait?: (pid: number) => void): Promise<() => Promise<void>> {
    const file = join(this.locksDir, `${key}.lock`);
    let warned = false;
    for (;;) {
      try {
        const fh = await open(file, 'wx');
        await fh.writeFile(String(process.pid));
        await fh.close();
        return async () => {
          await rm(file, { force: true });
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const pid = Number(await readFile(file, 'utf8').catch(() => ''));
      if (!pid || !isAlive(pid)) {
        // Stale (or being written this instant: an empty file younger than a second is left alone).
        const age = await stat(file).then((s) => Date.now() - s.mtimeMs).catch(() => Infinity);
        if (pid || age > 1000) await rm(file, { force: true });
        continue;
      }
      if (!warned) {
        onWait?.(pid);
        warned = true;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async keys(): Promise<string[]> {
    const out: string[] = [];
    for (const prefix of await readdir(this.entriesDir).catch(() => [])) {
      for (const key of await readdir(join(this.entriesDir, prefix)).catch(() => [])) out.push(key);
    }
    return out.sort();
  }
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
