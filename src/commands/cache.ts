// `qrun cache ls | gc | verify` over a cache folder (.qrun beside a recipe, --cache DIR or $QRUN_CACHE).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { globSync } from 'tinyglobby';
import { collectGarbage } from '../cache/gc.ts';
import { CacheStore, type Manifest } from '../cache/store.ts';
import { errors, QrunError } from '../errors.ts';
import { listRuns } from '../engine/journal.ts';
import { formatTable } from '../report/summary.ts';
import type { Output } from '../engine/output.ts';

const human = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** A folder a qrun run wrote: it has the store or the runs beside it. */
const isQrunCache = (dir: string) => existsSync(join(dir, 'cache')) || existsSync(join(dir, 'runs'));

/**
 * The cache a `qrun cache` command works on: --cache, else $QRUN_CACHE, else ./.qrun. When none of
 * these exists, a recipe's cache is usually `.qrun` beside it (recipes/.qrun from the repository
 * root): the .qrun folders under the current folder are found and named. Read-only commands use
 * the only one found and say so; gc deletes, so it never acts on a folder it guessed.
 */
function locateCache(sub: string | undefined, flag: string | undefined, io: Output): string {
  const named = flag ?? process.env.QRUN_CACHE;
  if (named !== undefined) {
    const root = resolve(named);
    if (!existsSync(root)) throw errors.usage(`no cache at ${root}`, `a run keeps its cache in .qrun beside its recipe; pass that folder: qrun cache ${sub} --cache recipes/.qrun`);
    return root;
  }
  if (existsSync('.qrun')) return resolve('.qrun');
  const found = globSync(['**/.qrun'], { onlyDirectories: true, dot: true, deep: 4, expandDirectories: false, followSymbolicLinks: false, ignore: ['**/node_modules', '**/.git', '**/.qrun/*'] })
    .map((d) => d.replace(/[\\/]$/, ''))
    .filter(isQrunCache)
    .sort();
  const here = process.cwd();
  if (!found.length) {
    throw errors.usage(
      `no qrun cache in ${here}: no .qrun here nor in the folders below it`,
      'a run keeps its cache in .qrun beside its recipe (or in the --cache DIR / $QRUN_CACHE it ran with): pass it with --cache DIR',
    );
  }
  if (found.length === 1 && sub !== 'gc') {
    io.out(`cache ${found[0]} (the only .qrun under ${here}; --cache DIR picks another)\n`);
    return resolve(found[0]!);
  }
  const list = found.map((d) => `\n  ${d}`).join('');
  throw errors.usage(
    `no .qrun in ${here}; ${found.length === 1 ? 'the qrun cache' : `the ${found.length} qrun caches`} below it:${list}`,
    `${sub === 'gc' ? 'gc removes files, so it takes its cache by name: ' : 'pick one: '}qrun cache ${sub} --cache ${found[0]} (or set QRUN_CACHE)`,
  );
}

export async function cacheCommand(sub: string | undefined, flags: { cache?: string; keepLast?: number }, io: Output): Promise<number> {
  const root = locateCache(sub, flags.cache, io);
  const store = new CacheStore(join(root, 'cache'));
  const keys = await store.keys();
  if (sub === 'ls') {
    const rows: string[][] = [];
    let total = 0;
    for (const key of keys) {
      let m: Manifest | undefined;
      let note = '(no manifest)';
      try {
        m = await store.readManifest(key);
      } catch (e) {
        if (!(e instanceof QrunError)) throw e;
        note = '(manifest unreadable)';
      }
      const size = Object.values(m?.outputs ?? {}).reduce((a, o) => a + o.size, 0);
      total += size;
      rows.push([key.slice(0, 16), m ? `${m.plugin}@${m.pluginVersion}` : note, human(size), m?.createdAt ?? '']);
    }
    io.out(formatTable(['key', 'plugin', 'size', 'created'], rows));
    io.out(`\n${keys.length} entries, ${human(total)}, ${(await listRuns(join(root, 'runs'))).length} runs`);
    return 0;
  }
  if (sub === 'verify') {
    let bad = 0;
    let unreadable = 0;
    for (const key of keys) {
      try {
        const r = await store.lookup(key);
        if (r.status !== 'hit') {
          bad++;
          io.out(`damaged ${key}: ${r.status === 'corrupt' ? r.reason : 'missing'}`);
        }
      } catch (e) {
        if (!(e instanceof QrunError)) throw e;
        unreadable++;
        io.out(`unreadable ${key}: ${e.message}`);
      }
    }
    const checked = keys.length - bad - unreadable;
    io.out(
      `${checked} of ${keys.length} entries verified` +
        (bad ? `; ${bad} damaged (they are rebuilt on the next run that needs them, or removed by \`qrun cache gc\`)` : '') +
        (unreadable ? `; ${unreadable} could not be read (not damage: left as they are)` : ''),
    );
    return bad || unreadable ? 1 : 0;
  }
  if (sub === 'gc') {
    const keepLast = flags.keepLast ?? 5;
    const r = await collectGarbage(root, keepLast);
    if (r.marked) io.out(`${root}: a cache of an earlier qrun version; marked as a qrun cache (cache/CACHEDIR.TAG)`);
    const kept = [
      `${plural(r.keptRecent, 'entry', 'entries')} used by the last ${plural(r.keptInvocations, 'invocation')}`,
      ...(r.keptLive ? [`${plural(r.keptLive, 'entry', 'entries')} used by ${plural(r.liveRuns, 'live run')}`] : []),
      ...(r.inUse ? [`${plural(r.inUse, 'entry', 'entries')} in use (locked)`] : []),
      ...(r.unreadable.length ? [`${plural(r.unreadable.length, 'entry', 'entries')} that could not be read`] : []),
    ];
    io.out(
      `removed ${plural(r.removedEntries, 'entry', 'entries')} (${human(r.removedBytes)}) and ${plural(r.removedRuns, 'old run')}` +
        `${r.removedBuilds ? ` and ${plural(r.removedBuilds, 'abandoned build')}` : ''}; kept ${kept.join(', ')}`,
    );
    for (const u of r.unreadable) io.out(`  unreadable ${u.key}: ${u.reason}`);
    return 0;
  }
  throw errors.usage(`qrun cache ${sub ?? ''}: expected ls, gc or verify`, 'qrun cache ls --cache recipes/.qrun');
}
