// `qrun cache gc`: removes what no recent invocation and no live run uses, taking the same locks as
// runs so that nothing in use is touched:
// - an entry whose key lock is held is being looked up or rebuilt: left alone;
// - an entry used by a live run (in its journal, or looked up or built since it started: a hit
//   touches the manifest's mtime) is kept, wherever that run is (its folder lock says it is live);
// - a build folder in tmp/ belongs to the holder of its key's lock: removed only when that is free;
// - run folders of live runs stay, whatever --keep-last says.
// It deletes only inside a folder marked as a qrun cache (cache/CACHEDIR.TAG), and counts only what
// it actually removed.
import { existsSync, readdirSync } from 'node:fs';
import { lstat, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errors, QrunError } from '../errors.ts';
import { listRuns, type RunSummary } from '../engine/journal.ts';
import { inspectLock, lockStaleMs, tryLock } from './lock.ts';
import { CacheStore } from './store.ts';

export interface GcResult {
  removedEntries: number;
  removedBytes: number;
  removedRuns: number;
  removedBuilds: number;
  /** Entries kept because the last N invocations used them. */
  keptRecent: number;
  /** Entries kept because a live run uses them. */
  keptLive: number;
  /** Entries whose lock was held (being looked up or built). */
  inUse: number;
  /** Entries left alone because they could not be read (not damage). */
  unreadable: { key: string; reason: string }[];
  keptInvocations: number;
  liveRuns: number;
  /** The folder had qrun's layout but no marker (an earlier qrun version made it): now marked. */
  marked: boolean;
}

/** Clocks of two hosts sharing a cache disagree; an entry used this long before a live run started is still kept. */
const CLOCK_SKEW_MS = 10 * 60_000;

/**
 * Whether `root` is a qrun cache. A folder made by this version carries cache/CACHEDIR.TAG; one made
 * by an earlier version is recognised by its exact layout (cache/{entries,tmp,locks} and runs/, nothing
 * else) and marked. Anything else is refused: gc deletes, and `--cache DIR` may be a typo.
 */
async function recognise(root: string, store: CacheStore): Promise<boolean> {
  if (await store.hasMarker()) return false;
  const top = existsSync(root) ? readdirSync(root) : [];
  const inCache = existsSync(store.root) ? readdirSync(store.root) : [];
  const layout =
    top.includes('cache') &&
    top.includes('runs') &&
    top.every((n) => n === 'cache' || n === 'runs') &&
    inCache.includes('entries') &&
    inCache.every((n) => ['entries', 'tmp', 'locks'].includes(n));
  if (!layout) {
    const found = top.length ? `it holds ${top.slice(0, 5).join(', ')}${top.length > 5 ? ', …' : ''} and no cache/CACHEDIR.TAG` : 'it is empty';
    throw errors.notACache(root, found);
  }
  await store.writeMarker();
  return true;
}

async function folderSize(path: string): Promise<number> {
  const s = await lstat(path).catch(() => undefined);
  if (!s) return 0;
  if (!s.isDirectory()) return s.size;
  let total = 0;
  for (const name of await readdir(path).catch(() => [])) total += await folderSize(join(path, name));
  return total;
}

/** Runs grouped by invocation, newest first: a matrix's variants are one invocation. */
function invocations(runs: RunSummary[]): RunSummary[][] {
  const groups = new Map<string, RunSummary[]>();
  for (const r of runs) groups.set(r.invocation, [...(groups.get(r.invocation) ?? []), r]);
  return [...groups.values()];
}

export async function collectGarbage(root: string, keepLast: number): Promise<GcResult> {
  const store = new CacheStore(join(root, 'cache'));
  const marked = await recognise(root, store);
  const runs = await listRuns(join(root, 'runs'));
  const live = runs.filter((r) => r.live);

  // Invocations that used no entry (a usage error, a failure in the first step) do not count.
  const groups = invocations(runs);
  const counted = groups.filter((g) => g.some((r) => r.keys.size > 0));
  const kept = counted.slice(0, keepLast);
  const recentKeys = new Set(kept.flat().flatMap((r) => [...r.keys]));
  const liveKeys = new Set(live.flatMap((r) => [...r.keys]));
  const liveSince = Math.min(...live.map((r) => (r.startedAt ? Date.parse(r.startedAt) : 0))) - CLOCK_SKEW_MS;

  const result: GcResult = {
    removedEntries: 0,
    removedBytes: 0,
    removedRuns: 0,
    removedBuilds: 0,
    keptRecent: 0,
    keptLive: 0,
    inUse: 0,
    unreadable: [],
    keptInvocations: kept.length,
    liveRuns: live.length,
    marked,
  };

  for (const key of await store.keys()) {
    const lock = await store.tryLock(key);
    if (!lock) {
      result.inUse++;
      continue;
    }
    try {
      let damaged: boolean;
      try {
        damaged = (await store.lookup(key, { verify: false })).status !== 'hit';
      } catch (e) {
        if (!(e instanceof QrunError)) throw e;
        result.unreadable.push({ key, reason: e.message });
        continue;
      }
      if (!damaged && liveKeys.has(key)) {
        result.keptLive++;
        continue;
      }
      if (!damaged && live.length) {
        const used = await stat(join(store.entryDir(key), 'manifest.json')).then((s) => s.mtimeMs, () => 0);
        if (used >= liveSince) {
          result.keptLive++;
          continue;
        }
      }
      if (!damaged && recentKeys.has(key)) {
        result.keptRecent++;
        continue;
      }
      const size = await folderSize(store.entryDir(key));
      if (await store.evict(key)) {
        result.removedEntries++;
        result.removedBytes += size;
      }
    } finally {
      await lock.release();
    }
  }

  result.removedBuilds = await cleanTmp(store);
  await cleanLocks(store);

  // Old runs: every invocation older than the last one kept (none when fewer than --keep-last
  // exist); live runs stay whatever their age.
  const cutoff = keepLast === 0 ? -1 : kept.length < keepLast ? groups.length : groups.indexOf(kept[kept.length - 1]!);
  for (const r of groups.slice(cutoff + 1).flat()) {
    if (r.live) continue;
    await rm(r.dir, { recursive: true, force: true });
    result.removedRuns++;
  }
  await cleanMatrixReports(join(root, 'runs'));
  return result;
}

/**
 * Build folders and entries being deleted, in tmp/. Each is named by its key (<key>.build-*,
 * <key>.old-*) and belongs to whoever holds that key's lock: removed only while the lock is free.
 * Folders of earlier qrun versions (<key16>-<pid>-<hex>, evicted-*) are removed once their process
 * has exited; anything else is not qrun's and is left alone.
 */
async function cleanTmp(store: CacheStore): Promise<number> {
  let removed = 0;
  for (const item of await store.tmpItems()) {
    if (item.key) {
      const lock = await store.tryLock(item.key);
      if (!lock) continue;
      try {
        await rm(item.path, { recursive: true, force: true });
        removed++;
      } finally {
        await lock.release();
      }
      continue;
    }
    const legacy = /^[0-9a-f]{16}-(\d+)-[0-9a-f]{8}$/.exec(item.name);
    if ((legacy && !isRunning(Number(legacy[1]))) || item.name.startsWith('evicted-')) {
      await rm(item.path, { recursive: true, force: true });
      removed++;
    }
  }
  return removed;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Lock folders left by processes that are gone, and the halves of lock renames a crash left. */
async function cleanLocks(store: CacheStore): Promise<void> {
  const stale = lockStaleMs();
  for (const name of await readdir(store.locksDir).catch(() => [])) {
    const path = join(store.locksDir, name);
    if (name.endsWith('.lock')) {
      if ((await inspectLock(path)).state !== 'abandoned') continue;
      const lock = await tryLock(path);
      await lock?.release();
    } else if (/\.[0-9a-f]{12}\.(new|old)$/.test(name)) {
      const s = await stat(path).catch(() => undefined);
      if (s && s.mtimeMs < Date.now() - stale) await rm(path, { recursive: true, force: true });
    }
  }
}

/** A matrix report folder (runs/<id>-matrix) goes when none of the runs it compares is left. */
async function cleanMatrixReports(runsDir: string): Promise<void> {
  for (const name of await readdir(runsDir).catch(() => [])) {
    if (!name.endsWith('-matrix')) continue;
    const dir = join(runsDir, name);
    try {
      const m = JSON.parse(await readFile(join(dir, 'matrix.json'), 'utf8')) as { variants?: { runId?: string }[] };
      const ids = (m.variants ?? []).map((v) => v.runId).filter((id): id is string => typeof id === 'string');
      if (ids.length && ids.every((id) => !existsSync(join(runsDir, id)))) await rm(dir, { recursive: true, force: true });
    } catch {
      // Not a matrix report qrun can read: left alone.
    }
  }
}
