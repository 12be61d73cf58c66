// `qrun plan recipe.yaml` (or `qrun run --dry-run`): every step with hit or miss, and for a miss
// why — which option, input, source file or tool changed since the last run of that step.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CacheStore } from '../cache/store.ts';
import type { KeyMaterial } from '../cache/fingerprint.ts';
import { Executor } from '../engine/executor.ts';
import { readJournal } from '../engine/journal.ts';
import { formatTable } from '../report/summary.ts';
import { cacheRootFor, loadAndPlan, loadAndPlanAll, type Output } from './run.ts';
import type { Recipe } from '../recipe/recipe.ts';
import type { ResolvedStep } from '../engine/plan.ts';

export interface PlannedStep {
  id: string;
  plugin: string;
  willRun: boolean;
  key?: string;
  reasons: string[];
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

export async function planSteps(file: string, flags: { cache?: string; force?: string[] }): Promise<PlannedStep[]> {
  const { recipe, steps } = await loadAndPlan(file);
  return planResolved(recipe, steps, flags);
}

async function planResolved(recipe: Recipe, steps: ResolvedStep[], flags: { cache?: string; force?: string[] }): Promise<PlannedStep[]> {
  const root = cacheRootFor(recipe, flags.cache);
  const store = new CacheStore(join(root, 'cache'));
  const executor = new Executor(recipe, steps, store, { force: new Set(flags.force ?? []) });
  const previous = previousKeys(join(root, 'runs'), recipe.file, recipe.variant?.label);
  const planned: PlannedStep[] = [];
  const running = new Set<string>();
  for (const step of steps) {
    const upstream = Object.values(step.inputs).filter((w) => w && running.has(w.step)).map((w) => w!.step);
    if (upstream.length) {
      running.add(step.spec.id);
      planned.push({ id: step.spec.id, plugin: step.plugin.name, willRun: true, reasons: [`its input from ${[...new Set(upstream)].join(', ')} will be rebuilt`] });
      continue;
    }
    let info;
    try {
      info = await executor.keyOf(step);
    } catch (e) {
      running.add(step.spec.id);
      planned.push({ id: step.spec.id, plugin: step.plugin.name, willRun: true, reasons: [`cannot compute its key yet: ${(e as Error).message}`] });
      continue;
    }
    const prevKey = previous.get(step.spec.id);
    const prevManifest = prevKey && prevKey !== info.key ? await store.readManifest(prevKey) : undefined;
    const verdict = await executor.explain(step, info, prevManifest?.keyMaterial as KeyMaterial | undefined);
    if (verdict.hit) {
      const lookup = await store.lookup(info.key, { verify: false });
      if (lookup.status === 'hit') executor.adoptOutputs(step, lookup.entry.manifest, lookup.entry.outDir);
    } else running.add(step.spec.id);
    planned.push({ id: step.spec.id, plugin: step.plugin.name, willRun: !verdict.hit, key: info.key, reasons: verdict.reasons });
  }
  return planned;
}

export async function planCommand(file: string, flags: { cache?: string; force?: string[] }, io: Output): Promise<number> {
  const all = await loadAndPlanAll(file);
  for (const { recipe, steps } of all) {
    if (recipe.variant) io.out(`\n▶ variant ${recipe.variant.label}`);
    printPlan(await planResolved(recipe, steps, flags), io);
  }
  return 0;
}

function printPlan(planned: PlannedStep[], io: Output): void {
  io.out(
    formatTable(
      ['step', 'plugin', 'plan', 'key', 'why'],
      planned.map((p) => [p.id, p.plugin, p.willRun ? 'run' : 'cache hit', p.key?.slice(0, 12) ?? '—', p.reasons.join('; ')]),
    ),
  );
  const runs = planned.filter((p) => p.willRun).length;
  io.out(`\n${runs} of ${planned.length} step(s) will run`);
}
