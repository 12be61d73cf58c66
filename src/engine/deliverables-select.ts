// Which step outputs are a run's deliverables, and where each one goes in the deliverables folder.
// Pure (nothing is read or written): the planner calls it so that `qrun validate` reports a bad
// `outputs:` entry before anything runs, and src/engine/deliverables.ts uses the same answer to
// materialize the folder after a run.
import { basename, posix } from 'node:path';
import type { Diagnostic } from '../errors.ts';
import type { OutMode, Recipe } from '../recipe/recipe.ts';
import { didYouMean } from '../recipe/suggest.ts';
import type { ResolvedStep } from './plan.ts';
import type { ArtifactKind } from './plugin.ts';

/** Kinds that are ONNX models: their external data files (ONNX ExternalData.md) travel with them. */
export const MODEL_KINDS: readonly ArtifactKind[] = ['qdq-model', 'onnx-model'];
/** The run's reports: always delivered, since they say whether the artifacts beside them are good. */
export const REPORT_FILES = ['report.json', 'report.md', 'report.html'] as const;
/** What each file in the folder is, with its sha256, written last. */
export const MANIFEST_FILE = 'manifest.json';
const RESERVED = new Set<string>([MANIFEST_FILE, ...REPORT_FILES]);

export interface DeliverableRef {
  step: string;
  output: string;
  kind: ArtifactKind;
  /** Path inside the deliverables folder, '/'-separated. */
  to: string;
  /** Listed in the recipe's `outputs:` (else chosen by default). */
  listed: boolean;
  /** The output may legitimately be absent: an optional output, or an output of an optional step. */
  optional: boolean;
}

/** report.json's `deliverables`: where the deliverables are, relative to the recipe folder. */
export interface DeliverablesSection {
  /** The folder, relative to the recipe's folder. */
  dir: string;
  /** Whether this run replaced the folder's content. */
  updated: boolean;
  /** Why the folder was not updated (a failed or partial run, a full disk). */
  reason?: string;
  /** The run whose files the folder holds (this run when updated); absent when it holds none. */
  fromRun?: { id: string; status: string };
  mode?: OutMode;
  /**
   * Each deliverable (relative to the recipe's folder; a folder ends with '/') and the step output
   * it is: a file with its sha256, a folder with its number of files (manifest.json in the folder
   * lists each file's sha256). The reports carry no sha256: report.json cannot hold its own.
   */
  files: { path: string; from: string; size?: number; sha256?: string; files?: number }[];
  /** Deliverables this run did not produce (a skipped optional step), with why. */
  missing: { from: string; reason: string }[];
}

/**
 * The name a deliverable gets without `to:`: its file name in the cache, except a Triton model
 * repository, which is a folder called `repository` there and `triton` here (tritonserver
 * --model-repository=out/<name>/triton).
 */
export function defaultTargetName(kind: ArtifactKind, path: string): string {
  return kind === 'triton-repo' ? 'triton' : basename(path);
}

/**
 * The deliverables of a planned recipe: the `outputs:` it lists, or by default the final model (the
 * last model any step produces), the last TensorRT engine and the last Triton repository. Errors
 * (with the recipe position) for an entry that names no step or output, a path outside the folder,
 * a reserved name, or two entries that land on the same path. Steps that failed to plan are not
 * reported again here.
 */
export function selectDeliverables(recipe: Recipe, steps: ResolvedStep[]): { refs: DeliverableRef[]; errors: Diagnostic[] } {
  if (recipe.outputs) return listedDeliverables(recipe, steps);
  const last = (kinds: readonly ArtifactKind[]): DeliverableRef | undefined => {
    for (const step of [...steps].reverse()) {
      const names = Object.keys(step.outputSpecs).filter((n) => kinds.includes(step.outputKinds[n]!));
      const name = names[names.length - 1];
      if (name === undefined) continue;
      const spec = step.outputSpecs[name]!;
      const kind = step.outputKinds[name]!;
      return { step: step.spec.id, output: name, kind, to: defaultTargetName(kind, spec.path), listed: false, optional: Boolean(spec.optional || step.spec.optional) };
    }
    return undefined;
  };
  const refs = [last(MODEL_KINDS), last(['engine']), last(['triton-repo'])].filter((r): r is DeliverableRef => r !== undefined);
  // Default names cannot be chosen by the user, so a clash (an engine file called model.onnx) is
  // resolved here, by the step id, rather than reported.
  const used = new Set<string>(RESERVED);
  for (const r of refs) {
    if (clashes(r.to, used)) r.to = `${r.step}-${r.to}`;
    used.add(r.to);
  }
  return { refs, errors: [] };
}

function listedDeliverables(recipe: Recipe, steps: ResolvedStep[]): { refs: DeliverableRef[]; errors: Diagnostic[] } {
  const errors: Diagnostic[] = [];
  const refs: DeliverableRef[] = [];
  const byId = new Map(steps.map((s) => [s.spec.id, s]));
  const recipeIds = recipe.steps.map((s) => s.id);
  const taken = new Map<string, string>([...RESERVED].map((n) => [n, 'qrun']));
  for (const entry of recipe.outputs ?? []) {
    // The schema has said what is wrong with an entry that is not `step.output` (validate plans a
    // recipe that failed it too, to report everything at once).
    if (typeof entry.from !== 'string' || !/^[^.]+\.[^.]+$/.test(entry.from) || (entry.to !== undefined && typeof entry.to !== 'string')) continue;
    const [stepId, output] = entry.from.split('.') as [string, string];
    const step = byId.get(stepId);
    if (!step) {
      // A step that exists but did not plan (unknown plugin, bad options) has its own error already.
      if (recipeIds.includes(stepId)) continue;
      const guess = didYouMean(stepId, recipeIds);
      errors.push({
        code: 'RECIPE_BAD_REFERENCE',
        message: `outputs: "${entry.from}" names step "${stepId}", which the recipe does not have`,
        location: entry.location,
        hint: `${guess ? `did you mean "${guess}.${output}"? ` : ''}steps: ${recipeIds.join(', ')}`,
      });
      continue;
    }
    const names = Object.keys(step.outputSpecs);
    if (!(output in step.outputSpecs)) {
      const guess = didYouMean(output, names);
      errors.push({
        code: 'RECIPE_BAD_REFERENCE',
        message: `outputs: step "${stepId}" (${step.plugin.name}) has no output "${output}"; its outputs: ${names.join(', ') || 'none'}`,
        location: entry.location,
        hint: guess ? `did you mean "${stepId}.${guess}"?` : undefined,
      });
      continue;
    }
    const spec = step.outputSpecs[output]!;
    const kind = step.outputKinds[output]!;
    const to = entry.to === undefined ? defaultTargetName(kind, spec.path) : insideFolder(entry.to);
    if (to === undefined) {
      errors.push({
        code: 'RECIPE_OUTPUT_PATH',
        message: `outputs: "to: ${entry.to}" is not a path inside the deliverables folder`,
        location: entry.toLocation ?? entry.location,
        hint: 'write a relative path without "..", e.g. to: bert-int8.onnx or to: models/bert-int8.onnx',
      });
      continue;
    }
    const holder = [...taken.entries()].find(([name]) => clashes(to, new Set([name])));
    if (holder) {
      errors.push({
        code: 'RECIPE_OUTPUT_CLASH',
        message:
          holder[1] === 'qrun'
            ? `outputs: "${entry.from}" would be written as ${to}, a name qrun keeps for ${holder[0]}`
            : `outputs: "${entry.from}" would be written as ${to}, where "${holder[1]}" goes (as ${holder[0]})`,
        location: entry.toLocation ?? entry.location,
        hint: `give it another name: { from: ${entry.from}, to: ${stepId}-${posix.basename(to)} }`,
      });
      continue;
    }
    taken.set(to, entry.from);
    refs.push({ step: stepId, output, kind, to, listed: true, optional: Boolean(spec.optional || step.spec.optional) });
  }
  return { refs, errors };
}

/** `to` as a normalised '/'-separated path inside the folder, or undefined when it leaves it. */
function insideFolder(to: string): string | undefined {
  const p = posix.normalize(to.replace(/\\/g, '/')).replace(/\/+$/, '');
  if (p === '' || p === '.' || p.startsWith('/') || /^[A-Za-z]:/.test(p) || p === '..' || p.startsWith('../')) return undefined;
  return p;
}

/** Whether `to` is, or is inside, or holds one of `used` (a file and a folder of the same path clash too). */
function clashes(to: string, used: Set<string>): boolean {
  for (const u of used) if (u === to || u.startsWith(`${to}/`) || to.startsWith(`${u}/`)) return true;
  return false;
}
