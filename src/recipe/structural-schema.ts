type Json = Record<string, unknown>;

/**
 * The structural part of the recipe schema: schemas/recipe.schema.json also attaches each built-in
 * plugin's options to its steps for editors; those are checked per plugin by the planner (with
 * did-you-mean and positions), so load-recipe validates only the structure.
 */
export function structuralSchema(schema: Json): Json {
  const copy = structuredClone(schema) as { properties: { steps: { items: Json & { properties: Json } } } };
  delete copy.properties.steps.items.allOf;
  copy.properties.steps.items.properties.uses = { type: 'string', minLength: 1 };
  return copy as unknown as Json;
}
