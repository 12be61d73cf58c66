// The recipe schema with each built-in plugin's options attached to the steps that use it.
import { BUILTIN_PLUGINS } from '../engine/builtin-plugins.ts';
import { structuralSchema } from './structural-schema.ts';

type Json = Record<string, unknown>;


export function recipeSchemaWithPlugins(schema: Json): Json {
  const base = structuralSchema(schema) as { properties: { steps: { items: Json & { properties: Json } } } };
  const items = base.properties.steps.items;
  const names = BUILTIN_PLUGINS.map((p) => p.name);
  (items.properties.uses as Json) = {
    type: 'string',
    minLength: 1,
    description: 'A built-in plugin, a path to a local plugin (./…), or an npm package name.',
    anyOf: [{ enum: names }, { pattern: '^(\\./|\\.\\./|/)' }, { pattern: '^(@[a-z0-9-~][a-z0-9-._~]*/)?[a-z0-9-~][a-z0-9-._~]*$' }],
  };
  items.allOf = BUILTIN_PLUGINS.map((p) => ({
    if: { properties: { uses: { const: p.name } }, required: ['uses'] },
    then: { properties: { with: { description: p.description, ...p.optionsSchema } } },
  }));
  return base as unknown as Json;
}
