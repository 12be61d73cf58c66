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
    then: { properties: { with: { description: p.description, ...allowMatrixExpressions(p.optionsSchema) } } },
  }));
  return base as unknown as Json;
}

/** Any option value may be a `${{ matrix.NAME }}` expression in a matrix recipe. */
const MATRIX_EXPRESSION = { type: 'string', pattern: '^\\$\\{\\{\\s*matrix\\.[A-Za-z_][A-Za-z0-9_-]*\\s*\\}\\}$' };

function allowMatrixExpressions(schema: Json): Json {
  const props = schema.properties as Record<string, Json> | undefined;
  if (!props) return schema;
  return {
    ...schema,
    properties: Object.fromEntries(
      Object.entries(props).map(([k, v]) => {
        const { description, ...rest } = v as Json & { description?: string };
        const inner = allowMatrixExpressions(rest);
        return [k, { ...(description ? { description } : {}), anyOf: [inner, MATRIX_EXPRESSION] }];
      }),
    ),
  };
}
