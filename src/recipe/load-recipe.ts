// YAML (with positions) → JSON Schema → a normalised Recipe. Returns diagnostics instead of throwing,
// so `qrun validate` can list every problem at once.
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync, readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { LineCounter, parseDocument } from 'yaml';
import type { Diagnostic } from '../errors.ts';
import { canonicalJson, sha256 } from '../util/hash.ts';
import { ajvToDiagnostics } from './ajv-diagnostics.ts';
import { structuralSchema } from './structural-schema.ts';
import type { Gate, Recipe, StepSpec } from './recipe.ts';
import { YamlLocator } from './yaml-positions.ts';
import { expandMatrix } from './matrix.ts';
import { looksLikeHubId, resolveHubId } from './hf-cache.ts';
import { parseGateCondition } from './gate-condition.ts';
import { didYouMean } from './suggest.ts';

/** YAML errors shown for one file; the rest are counted. */
const MAX_YAML_ERRORS = 5;

/**
 * A failure may carry `partial`: the recipe as far as it could be read despite the errors, so
 * `qrun validate` can also plan it and report every problem in one answer instead of in rounds.
 */
export type Result<T> = { ok: true; value: T; warnings: Diagnostic[] } | { ok: false; errors: Diagnostic[]; partial?: T };

const schemaPath = fileURLToPath(new URL('../../schemas/recipe.schema.json', import.meta.url));
const recipeSchema = JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<string, unknown>;
const ajv = new Ajv({ allErrors: true, verbose: true, strict: false });
// The file also carries each plugin's options for editors; those are checked per plugin by the
// planner (with did-you-mean and positions), so only the structure is validated here.
const validateRecipe = ajv.compile(withoutGatePattern(structuralSchema(recipeSchema)));

/** A gate's condition is parsed by src/recipe/gate-condition.ts, which says what is wrong with it; the file's pattern is for editors. */
function withoutGatePattern(schema: Record<string, unknown>): Record<string, unknown> {
  delete (schema as { properties: { gates: { additionalProperties: Record<string, unknown> } } }).properties.gates.additionalProperties.pattern;
  return schema;
}

export function defaultStepId(uses: string): string {
  const base = uses.split('/').pop()!.replace(/^qrun-plugin-/, '');
  return base.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^[^A-Za-z]+/, '') || 'step';
}

export async function loadRecipe(file: string): Promise<Result<Recipe>> {
  const abs = resolve(file);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return {
      ok: false,
      errors: [
        {
          code: code === 'ENOENT' ? 'RECIPE_NOT_FOUND' : 'RECIPE_UNREADABLE',
          message: code === 'ENOENT' ? `recipe file not found: ${file}` : `cannot read recipe ${file}: ${(e as Error).message}`,
          hint: 'recipes usually live in recipes/*.yaml; run `qrun recipes/bert-int8.yaml`',
        },
      ],
    };
  }
  return parseRecipe(text, abs);
}

export function parseRecipe(text: string, file: string): Result<Recipe> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const locator = new YamlLocator(doc, lines);
  if (doc.errors.length) {
    // A file that is not YAML at all (a README passed by mistake) gives one error per line: the first
    // few say where it goes wrong, the rest would only bury the hint.
    const shown = doc.errors.slice(0, MAX_YAML_ERRORS);
    const more = doc.errors.length - shown.length;
    return {
      ok: false,
      errors: shown.map((e, i) => {
        const p = e.linePos?.[0];
        return {
          code: 'RECIPE_YAML',
          message: `invalid YAML: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
          location: { file, line: p?.line, col: p?.col },
          hint:
            more > 0 && i === shown.length - 1
              ? `${more} more YAML error(s) follow; is ${basename(file)} a qrun recipe (version, name, model, steps)?`
              : 'check indentation and quoting around this line',
        };
      }),
    };
  }
  const raw = doc.toJS({ maxAliasCount: 100 }) as unknown;
  if (!validateRecipe(raw)) {
    const structural = ajvToDiagnostics(validateRecipe.errors ?? [], locator, file);
    // Read what can be read anyway (a recipe whose steps are not even a list cannot be), so its other
    // problems come in the same answer; each problem once, where the schema already named it.
    let rest: Result<Recipe> | undefined;
    try {
      rest = (raw as { matrix?: unknown }).matrix === undefined ? normaliseRecipe(raw as Record<string, unknown>, file, locator) : undefined;
    } catch {
      rest = undefined;
    }
    const seen = new Set(structural.map((d) => `${d.location?.line}:${d.location?.col}`));
    const more = rest && !rest.ok ? rest.errors.filter((d) => !seen.has(`${d.location?.line}:${d.location?.col}`)) : [];
    const partial = rest ? (rest.ok ? rest.value : rest.partial) : undefined;
    return { ok: false, errors: [...structural, ...more], ...(partial ? { partial } : {}) };
  }
  const matrix = (raw as { matrix?: Record<string, (string | number | boolean)[]> }).matrix;
  if (!matrix) return normaliseRecipe(raw as Record<string, unknown>, file, locator);
  // A matrix recipe: check that every variant is valid now, so a typo fails before anything runs.
  const expanded = expandMatrix(raw as Record<string, unknown>, matrix);
  if (!expanded.ok) return { ok: false, errors: expanded.errors.map((e) => ({ ...e, location: { file, ...locator.locate(e.path) } })) };
  const variants: Recipe[] = [];
  for (const v of expanded.variants) {
    const r = normaliseRecipe(v.raw, file, locator);
    if (!r.ok) return r;
    r.value.variant = { label: v.label, values: v.values };
    variants.push(r.value);
  }
  const base = normaliseRecipe(raw as Record<string, unknown>, file, locator);
  if (base.ok) base.value.matrix = { axes: matrix, variants };
  return base;
}

function normaliseRecipe(raw: Record<string, unknown>, file: string, locator: YamlLocator): Result<Recipe> {
  const data = raw as {
    name: string;
    description?: string;
    model?: string;
    task?: string;
    data?: Record<string, string>;
    steps: { id?: string; uses: string; with?: Record<string, unknown>; inputs?: Record<string, string>; optional?: boolean }[];
    gates?: Record<string, string>;
    outputs?: (string | { from: string; to?: string })[];
    out?: string | { path?: string; mode?: 'copy' | 'link' };
  };
  const dir = dirname(file);
  const errors: Diagnostic[] = [];
  const steps: StepSpec[] = [];
  const ids = new Map<string, number>();
  data.steps.forEach((s, index) => {
    const id = s.id ?? defaultStepId(s.uses);
    const location = { file, ...locator.locate(['steps', index, s.id ? 'id' : 'uses']) };
    const previous = ids.get(id);
    if (previous !== undefined) {
      errors.push({
        code: 'RECIPE_DUPLICATE_STEP',
        message: `duplicate step id "${id}" (also step ${previous + 1})`,
        location,
        hint: 'give each step a unique `id:`',
      });
    }
    ids.set(id, index);
    steps.push({ id, uses: s.uses, options: s.with ?? {}, inputs: s.inputs ?? {}, optional: s.optional ?? false, index, location: { file, ...locator.locate(['steps', index]) } });
  });
  // Conditions are parsed strictly (src/recipe/gate-condition.ts); metric names are checked against
  // the plugins' declarations by the planner (src/engine/metrics.ts).
  const gates: Gate[] = [];
  for (const [metric, expr] of Object.entries(data.gates ?? {})) {
    const location = { file, ...locator.locate(['gates', metric], { key: true }) };
    const condition = parseGateCondition(expr);
    if (!condition.ok) {
      errors.push({
        code: 'RECIPE_GATE',
        message: `gates.${metric}: ${JSON.stringify(expr)} is not a condition: ${condition.reason}`,
        location: { file, ...locator.locate(['gates', metric]) },
        hint: 'write an operator and a number, e.g. ">= 0.99" (or ">= 99%" for a ratio)',
      });
      continue;
    }
    gates.push({ metric, op: condition.op, value: condition.value, ...(condition.percent ? { percent: true } : {}), location });
  }
  for (const g of gates) {
    const stepId = g.metric.split('.')[0]!;
    if (!ids.has(stepId)) {
      const guess = didYouMean(stepId, ids.keys());
      errors.push({
        code: 'RECIPE_GATE',
        message: `gate "${g.metric}" names step "${stepId}", which the recipe does not have`,
        location: g.location,
        hint: `${guess ? `did you mean "${guess}"? ` : ''}steps: ${[...ids.keys()].join(', ')}`,
      });
    }
  }
  let modelRef: Recipe['model'];
  if (data.model) {
    const location = { file, ...locator.locate(['model']) };
    const local = resolve(dir, data.model);
    if (!existsSync(local) && looksLikeHubId(data.model)) {
      const hub = resolveHubId(data.model);
      if (hub.ok) modelRef = { path: hub.path, location, hub: { id: data.model, revision: hub.revision } };
      else errors.push({ code: 'MODEL_NOT_FOUND', message: hub.reason, location, hint: hub.hint });
    } else modelRef = { path: local, location };
  }
  // `outputs:` and `out:` are checked against the plan (which outputs exist, which names clash) in
  // src/engine/deliverables-select.ts; here they only get their positions.
  const outputs = (Array.isArray(data.outputs) ? data.outputs : undefined)?.map((o, i) =>
    typeof o === 'string' || typeof o !== 'object' || o === null
      ? { from: o, location: { file, ...locator.locate(['outputs', i]) } }
      : { from: o.from, to: o.to, location: { file, ...locator.locate(['outputs', i, 'from']) }, toLocation: { file, ...locator.locate(['outputs', i, 'to']) } },
  );
  const outSpec = typeof data.out === 'string' ? { path: data.out } : typeof data.out === 'object' && data.out !== null ? data.out : undefined;
  const out = outSpec && { path: outSpec.path === undefined ? undefined : resolve(dir, outSpec.path), mode: outSpec.mode, location: { file, ...locator.locate(['out']) } };
  const recipe: Recipe = {
    file,
    dir,
    name: data.name,
    description: data.description,
    hash: sha256(canonicalJson(raw)),
    raw: raw as Record<string, unknown>,
    model: modelRef,
    ...(data.task ? { task: { name: data.task, location: { file, ...locator.locate(['task']) } } } : {}),
    data: Object.fromEntries(
      Object.entries(data.data ?? {}).map(([k, v]) => [k, { path: resolve(dir, v), location: { file, ...locator.locate(['data', k]) } }]),
    ),
    steps,
    gates,
    ...(outputs ? { outputs } : {}),
    ...(out ? { out } : {}),
    locator,
  };
  // With duplicate step ids the steps cannot be told apart: no partial recipe to plan.
  if (errors.length) return { ok: false, errors, ...(errors.some((e) => e.code === 'RECIPE_DUPLICATE_STEP') ? {} : { partial: recipe }) };
  return { ok: true, value: recipe, warnings: [] };
}
