// schemas/recipe.schema.json serves editors (YAML language servers): it must stay in step with the
// plugins' own option schemas, and every shipped recipe must validate against it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { recipeSchemaWithPlugins } from '../src/recipe/schema-with-plugins.ts';
import { loadRecipe } from '../src/recipe/load-recipe.ts';
import { planRecipe } from '../src/engine/plan.ts';
import { builtinRegistry } from '../src/engine/builtin-plugins.ts';
import { loadExternalPlugins } from '../src/engine/load-plugin.ts';
import { REPO } from './helpers/cli.ts';

const schemaFile = join(REPO, 'schemas/recipe.schema.json');
const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as Record<string, unknown>;
const recipes = readdirSync(join(REPO, 'recipes')).filter((f) => f.endsWith('.yaml'));

describe('schemas/recipe.schema.json', () => {
  it('has the shipped recipes to check (an empty list would make the it.each below check nothing)', () => {
    expect(recipes).toContain('bert-int8.yaml');
  });

  it('is up to date with the built-in plugins (run `npm run schema`)', () => {
    expect(JSON.stringify(schema, null, 2)).toBe(JSON.stringify(recipeSchemaWithPlugins(schema), null, 2));
  });

  it('rejects an unknown option of a built-in plugin, as an editor would show', () => {
    const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
    expect(validate({ name: 'x', steps: [{ uses: 'calibrate', with: { methd: 'minmax' } }] })).toBe(false);
    expect(validate({ name: 'x', steps: [{ uses: 'calibrate', with: { method: 'minmax' } }] })).toBe(true);
  });

  it.each(recipes)('recipes/%s validates against it and plans', async (name) => {
    const file = join(REPO, 'recipes', name);
    const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
    const ok = validate(parse(readFileSync(file, 'utf8')));
    expect(ok ? [] : validate.errors).toEqual([]);
    const loaded = await loadRecipe(file);
    expect(loaded.ok).toBe(true);
    if (!loaded.ok) return;
    for (const recipe of loaded.value.matrix ? loaded.value.matrix.variants : [loaded.value]) {
      const registry = builtinRegistry();
      expect(await loadExternalPlugins(recipe, registry)).toEqual([]);
      expect(planRecipe(recipe, registry).errors).toEqual([]);
    }
  });
});
