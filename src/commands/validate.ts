import { EXIT, formatDiagnostic, type Diagnostic } from '../errors.ts';
import { loadRecipe } from '../recipe/load-recipe.ts';
import { planRecipe, type ResolvedStep } from '../engine/plan.ts';
import type { Recipe } from '../recipe/recipe.ts';
import { builtinRegistry } from '../engine/builtin-plugins.ts';
import { loadExternalPlugins } from '../engine/load-plugin.ts';
import type { Output } from '../engine/output.ts';

/** The plugins' problems with a recipe: loading external plugins, options, wiring, gates. */
async function planProblems(recipe: Recipe): Promise<{ steps: ResolvedStep[]; errors: Diagnostic[] }> {
  const registry = builtinRegistry();
  const loadErrors = await loadExternalPlugins(recipe, registry);
  const { steps, errors } = planRecipe(recipe, registry);
  return { steps, errors: [...loadErrors, ...errors] };
}

/**
 * Checks the recipe (every variant of a matrix) and every step's options, wiring and gates, and
 * prints every problem in one answer: a recipe with errors in its structure is still planned as far
 * as it can be read, and a problem the structure check named is not named again.
 */
export async function validateCommand(file: string, io: Output): Promise<number> {
  const loaded = await loadRecipe(file);
  if (!loaded.ok) {
    for (const d of loaded.errors) io.err(formatDiagnostic(d));
    if (loaded.partial) {
      const named = new Set(loaded.errors.map((d) => `${d.location?.line}:${d.location?.col}`));
      for (const d of (await planProblems(loaded.partial)).errors) if (!named.has(`${d.location?.line}:${d.location?.col}`)) io.err(formatDiagnostic(d));
    }
    return EXIT.usage;
  }
  const recipes = loaded.value.matrix ? loaded.value.matrix.variants : [loaded.value];
  const seen = new Set<string>();
  let failed = false;
  for (const recipe of recipes) {
    const { steps, errors } = await planProblems(recipe);
    for (const d of errors) {
      const text = formatDiagnostic(d) + (recipe.variant ? `\n  (matrix variant ${recipe.variant.label})` : '');
      if (!seen.has(formatDiagnostic(d))) io.err(text);
      seen.add(formatDiagnostic(d));
    }
    if (errors.length) {
      failed = true;
      continue;
    }
    const tag = recipe.variant ? ` [${recipe.variant.label}]` : '';
    io.out(`${file}${tag}: valid — ${steps.length} steps: ${steps.map((s) => `${s.spec.id} (${s.plugin.name})`).join(', ')}`);
    if (recipe.variant) continue;
    for (const s of steps) {
      const wired = Object.entries(s.inputs)
        .filter(([, w]) => w)
        .map(([name, w]) => `${name} ← ${w!.step}.${w!.output}`);
      if (wired.length) io.out(`  ${s.spec.id}: ${wired.join(', ')}`);
    }
  }
  return failed ? EXIT.usage : EXIT.ok;
}
