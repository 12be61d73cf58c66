import { EXIT, formatDiagnostic, type Diagnostic } from '../errors.ts';
import { loadRecipe } from '../recipe/load-recipe.ts';
import { planRecipe } from '../engine/plan.ts';
import { builtinRegistry } from '../engine/builtin-plugins.ts';
import { loadExternalPlugins } from '../engine/load-plugin.ts';
import type { Output } from '../engine/output.ts';

/** Checks the recipe (every variant of a matrix) and every step's options; prints every problem. */
export async function validateCommand(file: string, io: Output): Promise<number> {
  const loaded = await loadRecipe(file);
  if (!loaded.ok) {
    for (const d of loaded.errors) io.err(formatDiagnostic(d));
    return EXIT.usage;
  }
  const recipes = loaded.value.matrix ? loaded.value.matrix.variants : [loaded.value];
  const seen = new Set<string>();
  let failed = false;
  for (const recipe of recipes) {
    const registry = builtinRegistry();
    const loadErrors = await loadExternalPlugins(recipe, registry);
    const { steps, errors: planErrors } = planRecipe(recipe, registry);
    const errors: Diagnostic[] = [...loadErrors, ...planErrors];
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
