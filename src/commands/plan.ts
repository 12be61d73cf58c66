// `qrun plan recipe.yaml` (or `qrun run --dry-run`): what `qrun run` with the same --from, --until,
// --only and --force would do with every step — a cache hit, a run and why (which option, input,
// source file or tool changed since the last run of that step), a skip where an optional step's tool
// is absent, or the step it would fail at — and the same errors for unknown step names. With a
// remote cache (--remote-cache, QRUN_REMOTE_CACHE, remoteCache:), a step the local cache lacks but
// the remote store holds is a "remote hit": only its manifest is read (one GET), nothing downloaded.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CacheStore } from '../cache/store.ts';
import type { KeyMaterial } from '../cache/fingerprint.ts';
import type { RemoteCache, RemoteCacheMode, RemoteManifest } from '../cache/remote-cache.ts';
import { errors, formatDiagnostic, QrunError } from '../errors.ts';
import { Executor } from '../engine/executor.ts';
import { readJournal } from '../engine/journal.ts';
import { formatTable } from '../report/summary.ts';
import type { Output } from '../engine/output.ts';
import { cacheRootFor, loadAndPlan, loadAndPlanAll } from '../engine/planning.ts';
import type { Recipe } from '../recipe/recipe.ts';
import type { InputWiring, ResolvedStep } from '../engine/plan.ts';
import { availabilityOf, selectSteps, type SelectionFlags, type StepSelection } from '../engine/step-selection.ts';

/** What `qrun run` with the same flags would do with a step. */
export type PlanAction = 'run' | 'cache hit' | 'remote hit' | 'skip' | 'fail' | 'not run';

export interface PlannedStep {
  id: string;
  plugin: string;
  action: PlanAction;
  key?: string;
  reasons: string[];
}

export interface PlanFlags extends SelectionFlags {
  cache?: string;
  remoteCache?: string;
  remoteCacheMode?: RemoteCacheMode;
}

/** Key of each step id in the newest earlier runs of this recipe (from their journals). */
function previousKeys(runsDir: string, recipeFile: string, variant?: string): Map<string, string> {
  const keys = new Map<string, string>();
  if (!existsSync(runsDir)) return keys;
  for (const id of readdirSync(runsDir).sort().reverse()) {
    const file = join(runsDir, id, 'journal.jsonl');
    if (!existsSync(file)) continue;
    const events = readJournal(file);
    const start = events[0];
    if (start?.event !== 'start' || start.recipe !== recipeFile || start.variant !== variant) continue;
    for (const e of events) if (e.event === 'step' && e.key && !keys.has(e.id)) keys.set(e.id, e.key);
  }
  return keys;
}

export async function planSteps(file: string, flags: PlanFlags): Promise<PlannedStep[]> {
  const { recipe, steps } = await loadAndPlan(file);
  return planResolved(recipe, steps, flags);
}

/**
 * Each step as `qrun run` with these flags would treat it, step by step down the chain of keys:
 * left out (--until, --only), skipped (an optional step whose tool is absent here), failing (a
 * required step that cannot run, or an input a skipped step will not make), a cache hit, or a run
 * and why (what changed in its key since the last run, or an input that will be rebuilt).
 */
async function planResolved(recipe: Recipe, steps: ResolvedStep[], flags: PlanFlags, remote?: RemotePeek): Promise<PlannedStep[]> {
  const selection = await selectSteps(steps, flags);
  const root = cacheRootFor(recipe, flags.cache);
  const store = new CacheStore(join(root, 'cache'));
  const executor = new Executor(recipe, steps, store, { force: selection.force });
  const previous = previousKeys(join(root, 'runs'), recipe.file, recipe.variant?.label);
  const planned: PlannedStep[] = [];
  const actions = new Map<string, PlanAction>();
  let failsAt: string | undefined;
  for (const step of steps) {
    // The run stops at its first failure: the steps after it are not reached.
    const p = failsAt && !selection.leftOut.has(step.spec.id) ? { id: step.spec.id, plugin: step.plugin.name, action: 'not run' as const, reasons: [`the run stops at ${failsAt}`] } : await planStep(step, { selection, executor, store, previous, actions, only: flags.only, remote });
    if (p.action === 'fail') failsAt ??= step.spec.id;
    actions.set(step.spec.id, p.action);
    planned.push(p);
  }
  return planned;
}

interface PlanContext {
  selection: StepSelection;
  executor: Executor;
  store: CacheStore;
  previous: Map<string, string>;
  /** What was planned for each earlier step. */
  actions: Map<string, PlanAction>;
  only?: string;
  remote?: RemotePeek;
}

/**
 * The remote cache as plan sees it: a key's remote manifest, read and checked (a qrun entry for
 * this key), never its files. A store that cannot be reached is warned once and not asked again,
 * as a run would go on without it.
 */
class RemotePeek {
  private off = false;

  constructor(
    readonly cache: RemoteCache,
    private readonly io: Output,
  ) {}

  async manifest(key: string): Promise<RemoteManifest | undefined> {
    if (this.off || !this.cache.reads) return undefined;
    try {
      const text = await this.cache.s3.getText(`${this.cache.entryPath(key)}/manifest.json`);
      if (text === undefined) return undefined;
      const remote = JSON.parse(text) as RemoteManifest;
      // What a run would reject as damaged is not a hit (a run verifies each file as it downloads).
      return remote.format === 'qrun-remote-entry/1' && remote.manifest?.key === key && typeof remote.files === 'object' && remote.manifest.outputs ? remote : undefined;
    } catch (e) {
      if (e instanceof SyntaxError) return undefined;
      if (!(e instanceof QrunError)) throw e;
      this.off = true;
      this.io.err(`warning: ${formatDiagnostic(e.diagnostics[0]!)}\n  the plan leaves the remote cache out`);
      return undefined;
    }
  }
}

async function planStep(step: ResolvedStep, c: PlanContext): Promise<PlannedStep> {
  const id = step.spec.id;
  const planned = (action: PlanAction, reasons: string[], key?: string): PlannedStep => ({ id, plugin: step.plugin.name, action, ...(key ? { key } : {}), reasons });
  const leftOut = c.selection.leftOut.get(id);
  if (leftOut) return planned('not run', [leftOut]);
  // A tool this machine lacks: run would skip an optional step and fail a required one.
  const available = await availabilityOf(step);
  if (available && !available.ok) {
    return step.spec.optional ? planned('skip', [available.reason]) : planned('fail', [`${available.reason}; ${available.fix ? `${available.fix}, or ` : ''}mark the step \`optional: true\``]);
  }
  const wired = Object.entries(step.inputs).filter((e): e is [string, InputWiring] => e[1] !== undefined);
  const absent = wired.filter(([name, w]) => !step.inputSpecs[name]?.optional && ['skip', 'fail', 'not run'].includes(c.actions.get(w.step) ?? ''));
  if (absent.length) {
    const why = absent.map(([, w]) => `needs ${w.step}.${w.output}, which ${w.step} will not make (${c.actions.get(w.step)})`);
    return c.selection.lookupOnly.has(id) ? planned('not run', [...why, `--only ${c.only} does not need it`]) : planned('fail', why);
  }
  const upstream = [...new Set(wired.filter(([, w]) => c.actions.get(w.step) === 'run').map(([, w]) => w.step))];
  if (upstream.length) return c.selection.cacheOnly.has(id) ? planned('fail', [`not in the cache (its input from ${upstream.join(', ')} will be rebuilt), and --only ${c.only} needs it`]) : planned('run', [`its input from ${upstream.join(', ')} will be rebuilt`]);
  let info;
  try {
    info = await c.executor.keyOf(step);
  } catch (e) {
    return planned('run', [`cannot compute its key yet: ${(e as Error).message}`]);
  }
  const prevKey = c.previous.get(id);
  const prevManifest = prevKey && prevKey !== info.key ? await c.store.readManifest(prevKey) : undefined;
  const verdict = await c.executor.explain(step, info, prevManifest?.keyMaterial as KeyMaterial | undefined);
  if (verdict.hit) {
    const lookup = await c.store.lookup(info.key, { verify: false });
    if (lookup.status === 'hit') c.executor.adoptOutputs(step, lookup.entry.manifest, lookup.entry.outDir);
    return planned('cache hit', [], info.key);
  }
  // A local miss the remote cache would answer: its outputs' digests, from the manifest, give the
  // next steps their keys, as the downloaded entry would.
  const remote = c.selection.force.has(id) ? undefined : await c.remote?.manifest(info.key);
  if (remote) {
    c.executor.adoptOutputs(step, remote.manifest, join(c.store.root, 'remote', info.key));
    return planned('remote hit', [`in ${c.remote!.cache.url}`], info.key);
  }
  if (c.selection.cacheOnly.has(id)) return planned('fail', [`not in the cache (${verdict.reasons.join('; ')}), and --only ${c.only} needs it`], info.key);
  if (c.selection.lookupOnly.has(id)) return planned('not run', [`not in the cache, and --only ${c.only} does not need it`], info.key);
  return planned('run', verdict.reasons, info.key);
}

export async function planCommand(file: string, flags: PlanFlags, io: Output): Promise<number> {
  const all = await loadAndPlanAll(file);
  const remote = await openRemote(all[0]!.recipe, flags, io);
  try {
    for (const { recipe, steps } of all) {
      if (recipe.variant) io.out(`\n▶ variant ${recipe.variant.label}`);
      printPlan(await planResolved(recipe, steps, flags, remote), io);
    }
  } finally {
    remote?.cache.close();
  }
  return 0;
}

/** The remote cache a run with these flags would use (loaded only when one is named), checked once; undefined when none, or it cannot be reached (warned). */
async function openRemote(recipe: Recipe, flags: PlanFlags, io: Output): Promise<RemotePeek | undefined> {
  if (!(flags.remoteCache || process.env.QRUN_REMOTE_CACHE || recipe.raw.remoteCache || flags.remoteCacheMode)) return undefined;
  const { openRemoteCache } = await import('../cache/remote-cache.ts');
  let unreachable = false;
  const cache = await openRemoteCache({ flag: flags.remoteCache, mode: flags.remoteCacheMode, recipe }, (line) => {
    unreachable = true;
    io.err(line.replace('the remote cache is off for this run: every step that is not in the local cache is built here', 'the plan leaves the remote cache out'));
  });
  if (!cache && flags.remoteCacheMode) throw errors.usage('--remote-cache-mode needs a remote cache', 'add --remote-cache s3://BUCKET/PREFIX (or set QRUN_REMOTE_CACHE, or remoteCache: in the recipe)');
  if (!cache) return undefined;
  if (unreachable) {
    cache.close();
    return undefined;
  }
  return new RemotePeek(cache, io);
}

function printPlan(planned: PlannedStep[], io: Output): void {
  io.out(formatTable(['step', 'plugin', 'plan', 'key', 'why'], planned.map((p) => [p.id, p.plugin, p.action, p.key?.slice(0, 12) ?? '—', p.reasons.join('; ')])));
  const count = (a: PlanAction) => planned.filter((p) => p.action === a).length;
  const extra = (['skip', 'not run'] as const).filter((a) => count(a)).map((a) => `${count(a)} ${a === 'skip' ? 'skipped' : 'not run'}`);
  if (count('remote hit')) extra.unshift(`${count('remote hit')} from the remote cache`);
  io.out(`\n${count('run')} of ${planned.length} step(s) will run${extra.length ? ` (${extra.join(', ')})` : ''}`);
  const failing = planned.filter((p) => p.action === 'fail');
  if (failing.length) io.out(`the run would fail at ${failing[0]!.id}: ${failing[0]!.reasons.join('; ')}`);
}
