// ajv errors → Diagnostics with file:line:col, the offending key, what was expected and, for
// misspelt keys, a "did you mean". ajv must be created with { allErrors: true, verbose: true }.
import type { ErrorObject } from 'ajv';
import type { Diagnostic } from '../errors.ts';
import { didYouMean } from './suggest.ts';
import type { YamlLocator } from './yaml-positions.ts';

function parsePointer(pointer: string): string[] {
  if (!pointer) return [];
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function describePath(path: (string | number)[]): string {
  if (path.length === 0) return 'the recipe';
  return path.reduce<string>((acc, seg) => (/^\d+$/.test(String(seg)) ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : String(seg)), '');
}

export function ajvToDiagnostics(
  ajvErrors: ErrorObject[],
  locator: YamlLocator,
  file: string,
  basePath: (string | number)[] = [],
  code = 'RECIPE_SCHEMA',
): Diagnostic[] {
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const e of ajvErrors) {
    const path = [...basePath, ...parsePointer(e.instancePath)];
    let diag: Diagnostic;
    if (e.keyword === 'additionalProperties') {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      const allowed = Object.keys((e.parentSchema as { properties?: Record<string, unknown> })?.properties ?? {});
      const guess = didYouMean(key, allowed);
      const where = locator.locate([...path, key], { key: true });
      diag = {
        code,
        message: `unknown key "${key}" in ${describePath(path)}` + (allowed.length ? `; expected one of: ${allowed.join(', ')}` : ''),
        location: { file, ...where },
        hint: guess ? `did you mean "${guess}"?` : undefined,
      };
    } else if (e.keyword === 'required') {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      diag = {
        code,
        message: `${describePath(path)} is missing the required key "${missing}"`,
        location: { file, ...locator.locate(path) },
      };
    } else if (e.keyword === 'enum') {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      const guess = didYouMean(String(e.data), allowed.map(String));
      diag = {
        code,
        message: `${describePath(path)} is ${JSON.stringify(e.data)}; expected one of: ${allowed.map((a) => JSON.stringify(a)).join(', ')}`,
        location: { file, ...locator.locate(path) },
        hint: guess ? `did you mean ${JSON.stringify(guess)}?` : undefined,
      };
    } else if (e.keyword === 'type') {
      diag = {
        code,
        message: `${describePath(path)} must be ${(e.params as { type: string }).type}, got ${JSON.stringify(e.data)}`,
        location: { file, ...locator.locate(path) },
      };
    } else {
      diag = {
        code,
        message: `${describePath(path)} ${e.message ?? 'is invalid'}${e.data !== undefined && typeof e.data !== 'object' ? ` (got ${JSON.stringify(e.data)})` : ''}`,
        location: { file, ...locator.locate(path) },
      };
    }
    const id = `${diag.location?.line}:${diag.location?.col}:${diag.message}`;
    if (!seen.has(id)) {
      seen.add(id);
      out.push(diag);
    }
  }
  return out;
}
