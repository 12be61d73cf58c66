// Writes schemas/recipe.schema.json: the recipe structure plus, for each built-in plugin, the schema
// of its `with:` options (if uses == name then with: that schema), so YAML language servers complete
// and check recipes. `npm run schema` regenerates it; a test fails when it is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { recipeSchemaWithPlugins } from '../src/recipe/schema-with-plugins.ts';

const file = fileURLToPath(new URL('../schemas/recipe.schema.json', import.meta.url));
const current = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
writeFileSync(file, JSON.stringify(recipeSchemaWithPlugins(current), null, 2) + '\n');
console.log(`wrote ${file}`);
