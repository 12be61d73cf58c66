// Which steps an invocation runs, from --force, --from, --until and --only: one function, so `qrun
// run`, `qrun plan` and `--dry-run` select the same steps and refuse the same flags.
//
// --only STEP runs STEP on cached inputs. The steps whose outputs it consumes, directly or through
// other steps, must be cache hits; the other steps before it are taken from the cache where they are
// there and left out where not (bench does not need the engine). An optional step that cannot run
// here (its plugin's available() says so, e.g. no trtexec) is run: it skips at once, as it did
// when the cache was filled, instead of failing "not in the cache".
import { errors } from '../errors.ts';
import { didYouMean } from '../recipe/suggest.ts';
import type { ResolvedStep } from './plan.ts';
import type { Plugin } from './plugin.ts';

export interface SelectionFlags {
  force?: string[];
  /** Run this step and every later one even if cached. */
  from?: string;
  /** Stop after this step. */
  until?: string;
  /** Run this step alone, on cached inputs. */
  only?: string;
}

export interface StepSelection {
  /** The steps this invocation runs or takes from the cache, in recipe order. */
  selected: ResolvedStep[];
  /** Steps run even if cached. */
  force: Set<string>;
  /** Steps that must be cache hits (what --only consumes): a miss is an error, not a run. */
  cacheOnly: Set<string>;
  /** Steps before --only that it does not consume: a hit is taken, a miss leaves the step out. */
  lookupOnly: Set<string>;
  /** Each step left out, and why ("--until calibrate", "after --only bench"). */
  leftOut: Map<string, string>;
  /** Optional steps before --only that cannot run here, and why: run (they skip) rather than looked up. */
  skippable: Map<string, string>;
}

/** Whether a step's plugin says it can do its work here; undefined when the plugin has no check. */
export async function availabilityOf(step: ResolvedStep): Promise<{ ok: true } | { ok: false; reason: string; fix?: string } | undefined> {
  const check = (step.plugin as Plugin<Record<string, unknown>>).available;
  return check ? check(step.options) : undefined;
}

/** The index of step `id`, or a usage error naming the closest step id. */
function indexOf(steps: ResolvedStep[], flag: string, id: string): number {
  const i = steps.findIndex((s) => s.spec.id === id);
  if (i >= 0) return i;
  const ids = steps.map((s) => s.spec.id);
  const guess = didYouMean(id, ids);
  throw errors.usage(`--${flag} ${id}: the recipe has no step "${id}"`, `${guess ? `did you mean "${guess}"? ` : ''}steps: ${ids.join(', ')}`);
}

/** The steps whose outputs `step` reads, directly or through other steps, in recipe order. */
export function upstreamOf(steps: ResolvedStep[], step: ResolvedStep): ResolvedStep[] {
  const byId = new Map(steps.map((s) => [s.spec.id, s]));
  const needed = new Set<string>();
  const visit = (s: ResolvedStep) => {
    for (const w of Object.values(s.inputs)) {
      if (!w || needed.has(w.step)) continue;
      needed.add(w.step);
      visit(byId.get(w.step)!);
    }
  };
  visit(step);
  return steps.filter((s) => needed.has(s.spec.id));
}

export async function selectSteps(steps: ResolvedStep[], flags: SelectionFlags): Promise<StepSelection> {
  for (const id of flags.force ?? []) indexOf(steps, 'force', id);
  const force = new Set(flags.force ?? []);
  const cacheOnly = new Set<string>();
  const lookupOnly = new Set<string>();
  const leftOut = new Map<string, string>();
  const skippable = new Map<string, string>();
  let last = steps.length - 1;
  if (flags.from !== undefined) for (const s of steps.slice(indexOf(steps, 'from', flags.from))) force.add(s.spec.id);
  if (flags.until !== undefined) last = Math.min(last, indexOf(steps, 'until', flags.until));
  let selected = steps.slice(0, last + 1);
  for (const s of steps.slice(last + 1)) leftOut.set(s.spec.id, `--until ${flags.until}`);
  if (flags.only !== undefined) {
    const i = indexOf(steps, 'only', flags.only);
    const only = steps[i]!;
    const upstream = upstreamOf(steps, only);
    for (const s of steps.slice(i + 1)) leftOut.set(s.spec.id, `after --only ${only.spec.id}`);
    for (const s of steps.slice(0, i)) {
      const available = s.spec.optional ? await availabilityOf(s) : undefined;
      if (available && !available.ok) skippable.set(s.spec.id, available.reason);
      else (upstream.includes(s) ? cacheOnly : lookupOnly).add(s.spec.id);
    }
    selected = steps.slice(0, i + 1);
  }
  return { selected, force, cacheOnly, lookupOnly, leftOut, skippable };
}
