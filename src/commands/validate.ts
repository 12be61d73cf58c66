import { EXIT, formatDiagnostic } from '../errors.ts';
import { loadRecipe } from '../recipe/load-recipe.ts';
import { planRecipe } from '../engine/plan.ts';
import { builtinRegistry } from '../engine/builtin-plugins.ts';
import { loadExternalPlugins } from '../engine/load-plugin.ts';
import type { Output } from './run.ts';

/** Checks the recipe and every step's options; prints every problem, not just the first. */
export async function validateCommand(file: string, io: Output): Promise<number> {
  const loaded = await loadRecipe(file);
  if (!loaded.ok) {
    for (const d of loaded.errors) io.err(formatDiagnostic(d));
    return EXIT.usage;
  }
  const registry = builtinRegistry();
  const loadErrors = await loadExternalPlugins(loaded.value, registry);
  const { steps, errors: planErrors } = planRecipe(loaded.value, registry);
  const errors = [...loadErrors, ...planErrors];
  if (errors.length) {
    for (const d of errors) io.err(formatDiagnostic(d));
    return EXIT.usage;
  }
  io.out(`${file}: valid — ${steps.length} steps: ${steps.map((s) => `${s.spec.id} (${s.plugin.name})`).join(', ')}`);
  for (const s of steps) {
    const wired = Object.entries(s.inputs)
      .filter(([, w]) => w)
      .map(([name, w]) => `${name} ← ${w!.step}.${w!.output}`);
    if (wired.length) io.out(`  ${s.spec.id}: ${wired.join(', ')}`);
  }
  return EXIT.ok;
}
