// External plugins: `uses: ./plugins-local/my-step` (a file or folder, relative to the recipe) or
// `uses: my-qrun-plugin` (an npm package installed where the recipe can resolve it). They follow the
// same contract as the built-ins and are keyed the same way: on the modules they import, the files
// those name with `new URL('…', import.meta.url)`, and the installed versions of their packages.
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Diagnostic } from '../errors.ts';
import type { Recipe } from '../recipe/recipe.ts';
import type { Plugin } from './plugin.ts';
import { isExternalReference, type PluginRegistry } from './registry.ts';
import { importPluginModule } from '../startup/typescript-loader.ts';

const ENTRY_FILES = ['index.ts', 'index.mts', 'index.js', 'index.mjs'];

/** Problems with an object that claims to be a plugin (empty when it fits the contract). */
export function checkPluginContract(p: unknown): string[] {
  if (!p || typeof p !== 'object') return ['the module does not export a plugin object (export default { name, version, … })'];
  const o = p as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof o.name !== 'string' || !o.name) problems.push('`name` must be a non-empty string');
  if (typeof o.version !== 'string' || !o.version) problems.push('`version` must be a string (bump it when outputs change)');
  if (!o.optionsSchema || typeof o.optionsSchema !== 'object') problems.push('`optionsSchema` must be a JSON Schema object');
  if (!o.inputs || (typeof o.inputs !== 'object' && typeof o.inputs !== 'function')) problems.push('`inputs` must be an object (or a function of the options)');
  if (!o.outputs || (typeof o.outputs !== 'object' && typeof o.outputs !== 'function')) problems.push('`outputs` must be an object (or a function of the options)');
  if (typeof o.run !== 'function') problems.push('`run(options, inputs, sources, ctx)` must be a function');
  return problems;
}

function entryOf(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  if (statSync(path).isFile()) return path;
  for (const f of ENTRY_FILES) if (existsSync(join(path, f))) return join(path, f);
  const pkgFile = join(path, 'package.json');
  if (existsSync(pkgFile)) {
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { main?: string; exports?: unknown };
    const exp = pkg.exports as Record<string, unknown> | string | undefined;
    const dot = typeof exp === 'string' ? exp : (exp?.['.'] as Record<string, string> | string | undefined);
    const target = typeof dot === 'string' ? dot : dot?.import ?? dot?.default ?? pkg.main;
    if (target && existsSync(join(path, target))) return join(path, target);
  }
  return undefined;
}

/** A package folder under node_modules, looked up from the recipe's folder upwards. */
function findPackage(name: string, from: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

export async function loadExternalPlugins(recipe: Recipe, registry: PluginRegistry): Promise<Diagnostic[]> {
  const diagnostics: Diagnostic[] = [];
  for (const step of recipe.steps) {
    if (registry.has(step.uses)) continue;
    const external = isExternalReference(step.uses);
    const where = external ? resolve(recipe.dir, step.uses) : findPackage(step.uses, recipe.dir);
    if (!where) continue; // not a package either: the planner reports an unknown plugin with a suggestion
    const location = { file: recipe.file, ...recipe.locator.locate(['steps', step.index, 'uses']) };
    const entry = entryOf(where);
    if (!entry) {
      diagnostics.push({
        code: 'PLUGIN_NOT_FOUND',
        message: `step "${step.id}": no plugin at ${where}`,
        location,
        hint: `a plugin is a module with a default export; put it in ${join(where, 'index.ts')} (see docs/plugins.md)`,
      });
      continue;
    }
    let mod: { default?: unknown };
    try {
      mod = await importPluginModule(pathToFileURL(entry).href);
    } catch (e) {
      diagnostics.push({ code: 'PLUGIN_LOAD_FAILED', message: `step "${step.id}": cannot load plugin ${entry}: ${(e as Error).message}`, location, hint: 'fix the error in the plugin module' });
      continue;
    }
    const plugin = mod.default;
    const problems = checkPluginContract(plugin);
    if (problems.length) {
      diagnostics.push({ code: 'PLUGIN_CONTRACT', message: `step "${step.id}": ${entry} is not a qrun plugin: ${problems.join('; ')}`, location, hint: 'see docs/plugins.md for the contract' });
      continue;
    }
    // Keyed as the built-ins are: on the entry's import closure (src/cache/code-closure.ts), paths
    // relative to the plugin's folder, and the versions of the packages it imports.
    registry.registerAs(step.uses, { ...(plugin as Plugin), entry: realpathSync(entry) });
  }
  return diagnostics;
}
