// A run or a matrix as the graph of its unique steps, before anything runs. A step's cache key needs
// its inputs' digests, known only once they are built; its node id here is the same key computed
// with each input's digest replaced by the node id of the step that produces it. Two variants whose
// step has the same plugin, options, sources, code and upstream nodes get the same node: it is one
// job on the queue, built once, whatever number of variants use it. A step without inputs has its
// real cache key as its node id.
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { CacheStore, type Manifest } from '../cache/store.ts';
import { Executor } from '../engine/executor.ts';
import type { ResolvedStep } from '../engine/plan.ts';
import type { PlannedRecipe } from '../engine/planning.ts';
import type { Recipe } from '../recipe/recipe.ts';

export interface StepNode {
  id: string;
  /** The step as the first variant that has it names it. */
  stepId: string;
  plugin: string;
  /** What a worker must have (`qrun worker --tags`) to run it. */
  tags: string[];
  /** Node ids of the steps whose outputs it reads. */
  deps: string[];
  /** Every (variant, step) that is this node. */
  uses: { variant: number; stepId: string }[];
}

export interface StepGraph {
  /** In an order where every node comes after its deps. */
  nodes: StepNode[];
  /** For each variant, its step ids → node ids. */
  variants: Map<string, string>[];
}

/** Tools a plugin needs that not every machine has: the tags a worker must declare to be given it. */
const PLUGIN_TAGS: [RegExp, string[]][] = [
  [/^trtexec$/, ['gpu', 'trtexec']],
  [/^torch\./, ['gpu']],
];

export function stepTags(recipe: Recipe, step: ResolvedStep): string[] {
  const raw = (recipe.raw.steps as { tags?: unknown }[] | undefined)?.[step.spec.index]?.tags;
  const declared = Array.isArray(raw) ? raw.filter((t): t is string => typeof t === 'string') : [];
  const builtin = PLUGIN_TAGS.filter(([re]) => re.test(step.plugin.name)).flatMap(([, tags]) => tags);
  return [...new Set([...declared, ...builtin])].sort();
}

/** Placeholder digests that name the producing node: keyOf then yields a key of the graph's structure. */
function placeholderManifest(step: ResolvedStep, nodeId: string): Manifest {
  const outputs: Manifest['outputs'] = {};
  for (const [name, spec] of Object.entries(step.outputSpecs)) {
    outputs[name] = { kind: step.outputKinds[name]!, path: spec.path, sha256: `node:${nodeId}:${name}`, size: 0 };
  }
  return { key: nodeId, plugin: step.plugin.name, pluginVersion: step.plugin.version, keyMaterial: {}, outputs, metrics: {}, createdAt: '', durationMs: 0 };
}

export async function stepGraph(planned: PlannedRecipe[]): Promise<StepGraph> {
  const nodes = new Map<string, StepNode>();
  const variants: Map<string, string>[] = [];
  // keyOf never touches the store: this one is never created on disk.
  const store = new CacheStore(join(tmpdir(), 'qrun-step-graph-unused'));
  for (const [variant, { recipe, steps }] of planned.entries()) {
    const executor = new Executor(recipe, steps, store);
    const ids = new Map<string, string>();
    for (const step of steps) {
      const { key } = await executor.keyOf(step);
      executor.adoptOutputs(step, placeholderManifest(step, key), '/nonexistent');
      ids.set(step.spec.id, key);
      const deps = [...new Set(Object.values(step.inputs).flatMap((w) => (w && ids.has(w.step) ? [ids.get(w.step)!] : [])))];
      const node = nodes.get(key) ?? { id: key, stepId: step.spec.id, plugin: step.plugin.name, tags: stepTags(recipe, step), deps, uses: [] };
      node.uses.push({ variant, stepId: step.spec.id });
      nodes.set(key, node);
    }
    variants.push(ids);
  }
  return { nodes: [...nodes.values()], variants };
}

/** The steps a step reads from, transitively, in recipe order (what a worker needs before it can run the step). */
export function ancestorsOf(steps: ResolvedStep[], stepId: string): ResolvedStep[] {
  const byId = new Map(steps.map((s) => [s.spec.id, s]));
  const need = new Set<string>();
  const visit = (id: string) => {
    for (const w of Object.values(byId.get(id)?.inputs ?? {})) {
      if (w && !need.has(w.step)) {
        need.add(w.step);
        visit(w.step);
      }
    }
  };
  visit(stepId);
  return steps.filter((s) => need.has(s.spec.id));
}
