// Writes schemas/recipe.schema.json: the recipe structure plus, for each built-in plugin, the schema
// of its `with:` options (if uses == name then with: that schema), so YAML language servers complete
// and check recipes; and docs/recipe-reference.md, the same options and each plugin's metrics for
// people. `npm run schema` regenerates both; tests fail when either is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { recipeSchemaWithPlugins } from '../src/recipe/schema-with-plugins.ts';
import { renderRecipeReference } from '../src/recipe/recipe-reference.ts';

const file = fileURLToPath(new URL('../schemas/recipe.schema.json', import.meta.url));
const current = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
const schema = recipeSchemaWithPlugins(current);
writeFileSync(file, JSON.stringify(schema, null, 2) + '\n');
console.log(`wrote ${file}`);

const reference = fileURLToPath(new URL('../docs/recipe-reference.md', import.meta.url));
writeFileSync(reference, renderRecipeReference(schema));
console.log(`wrote ${reference}`);
