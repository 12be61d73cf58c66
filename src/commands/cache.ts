// `qrun cache ls | gc | verify` over a cache folder (.qrun beside a recipe, --cache DIR or $QRUN_CACHE).
import { existsSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CacheStore } from '../cache/store.ts';
import { errors } from '../errors.ts';
import { readJournal } from '../engine/journal.ts';
import { formatTable } from '../report/summary.ts';
import type { Output } from './run.ts';

/** Run ids, newest first, with the keys each run used. */
function runs(root: string): { id: string; keys: Set<string> }[] {
  const dir = join(root, 'runs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .reverse()
    .filter((id) => existsSync(join(dir, id, 'journal.jsonl')))
    .map((id) => ({ id, keys: new Set(readJournal(join(dir, id, 'journal.jsonl')).flatMap((e) => (e.event === 'step' && e.key ? [e.key] : []))) }));
}

const human = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`);

export async function cacheCommand(sub: string | undefined, flags: { cache?: string; keepLast?: number }, io: Output): Promise<number> {
  const root = resolve(flags.cache ?? process.env.QRUN_CACHE ?? '.qrun');
  if (!existsSync(root)) throw errors.usage(`no cache at ${root}`, 'pass --cache DIR (a recipe keeps its cache in .qrun beside it)');
  const store = new CacheStore(join(root, 'cache'));
  const keys = await store.keys();
  if (sub === 'ls') {
    const rows: string[][] = [];
    let total = 0;
    for (const key of keys) {
      const m = await store.readManifest(key);
      const size = Object.values(m?.outputs ?? {}).reduce((a, o) => a + o.size, 0);
      total += size;
      rows.push([key.slice(0, 16), m ? `${m.plugin}@${m.pluginVersion}` : '(no manifest)', human(size), m?.createdAt ?? '']);
    }
    io.out(formatTable(['key', 'plugin', 'size', 'created'], rows));
    io.out(`\n${keys.length} entries, ${human(total)}, ${runs(root).length} runs`);
    return 0;
  }
  if (sub === 'verify') {
    let bad = 0;
    for (const key of keys) {
      const r = await store.lookup(key);
      if (r.status !== 'hit') {
        bad++;
        io.out(`damaged ${key}: ${r.status === 'corrupt' ? r.reason : 'missing'}`);
      }
    }
    io.out(`${keys.length - bad} of ${keys.length} entries verified${bad ? `; ${bad} damaged (they are rebuilt on the next run that needs them, or removed by \`qrun cache gc\`)` : ''}`);
    return bad ? 1 : 0;
  }
  if (sub === 'gc') {
    // Runs that used no entry (a usage error, a failure in the first step) do not count.
    const all = runs(root).filter((r) => r.keys.size > 0);
    const keepRuns = all.slice(0, flags.keepLast ?? 5);
    const keep = new Set(keepRuns.flatMap((r) => [...r.keys]));
    let removed = 0;
    for (const key of keys) {
      const damaged = (await store.lookup(key, { verify: false })).status !== 'hit';
      if (!keep.has(key) || damaged) {
        await store.evict(key);
        removed++;
      }
    }
    for (const r of all.slice(keepRuns.length)) await rm(join(root, 'runs', r.id), { recursive: true, force: true });
    await rm(store.tmpDir, { recursive: true, force: true });
    io.out(`removed ${removed} of ${keys.length} entries and ${all.length - keepRuns.length} old runs; kept what the last ${keepRuns.length} run(s) used`);
    return 0;
  }
  throw errors.usage(`qrun cache ${sub ?? ''}: expected ls, gc or verify`, 'qrun cache ls --cache recipes/.qrun');
}
