// The planning service every command starts from: the recipe file loaded and validated, external
// plugins loaded, each step resolved (src/engine/plan.ts), and where its cache lives. Nothing runs
// here; `qrun run`, `qrun plan` and `qrun validate` share it, so they accept and refuse the same
// recipes with the same errors.
import { join, resolve } from 'node:path';
import { errors } from '../errors.ts';
import { loadRecipe } from '../recipe/load-recipe.ts';
import type { Recipe } from '../recipe/recipe.ts';
import { builtinRegistry } from './builtin-plugins.ts';
import { loadExternalPlugins } from './load-plugin.ts';
import { planRecipe, type ResolvedStep } from './plan.ts';

export interface PlannedRecipe {
  recipe: Recipe;
  steps: ResolvedStep[];
}

/** The cache and runs folder: --cache, else $QRUN_CACHE, else .qrun beside the recipe. */
export function cacheRootFor(recipe: Recipe, flag?: string): string {
  return resolve(flag ?? process.env.QRUN_CACHE ?? join(recipe.dir, '.qrun'));
}

async function planOne(recipe: Recipe): Promise<PlannedRecipe> {
  const registry = builtinRegistry();
  const loadErrors = await loadExternalPlugins(recipe, registry);
  if (loadErrors.length) throw errors.recipeInvalid(loadErrors);
  const { steps, errors: planErrors } = planRecipe(recipe, registry);
  if (planErrors.length) throw errors.recipeInvalid(planErrors);
  return { recipe, steps };
}

/** The recipe planned: one entry, or one per variant of a `matrix:` recipe. */
export async function loadAndPlanAll(file: string): Promise<PlannedRecipe[]> {
  const loaded = await loadRecipe(file);
  if (!loaded.ok) throw errors.recipeInvalid(loaded.errors);
  const recipes = loaded.value.matrix ? loaded.value.matrix.variants : [loaded.value];
  const planned = [];
  for (const r of recipes) planned.push(await planOne(r));
  return planned;
}

/** A recipe that is not a matrix, planned. */
export async function loadAndPlan(file: string): Promise<PlannedRecipe> {
  const all = await loadAndPlanAll(file);
  if (all.length !== 1) throw errors.usage(`${file} has a matrix of ${all.length} variants; this command takes a single recipe`, 'run it with `qrun run`');
  return all[0]!;
}
