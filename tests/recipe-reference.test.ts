// docs/recipe-reference.md is what a user writes a recipe from (issue 12, section 4): it must say
// what the code does. It is generated from the plugins' option schemas and metric declarations
// (`npm run schema`); these tests fail when it is out of date, when an option has no description
// or example, when a metric has no unit, and when a shipped recipe lacks the editor's schema line.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUILTIN_PLUGINS } from '../src/engine/builtin-plugins.ts';
import { EXIT, EXIT_CODES } from '../src/errors.ts';
import { renderRecipeReference, stepReferences } from '../src/recipe/recipe-reference.ts';
import { REPO } from './helpers/cli.ts';

const schema = JSON.parse(readFileSync(join(REPO, 'schemas/recipe.schema.json'), 'utf8')) as { properties: Record<string, unknown> };
const referenceFile = join(REPO, 'docs/recipe-reference.md');
const reference = readFileSync(referenceFile, 'utf8');
const steps = stepReferences();

describe('docs/recipe-reference.md', () => {
  it('is up to date with the schema and the built-in plugins (run `npm run schema`)', () => {
    expect(reference).toBe(renderRecipeReference(schema));
  });

  it('has a section for every built-in plugin', () => {
    expect(steps.map((s) => s.plugin)).toEqual(BUILTIN_PLUGINS.map((p) => p.name));
    for (const p of BUILTIN_PLUGINS) expect(reference).toContain(`### \`${p.name}\``);
  });

  it('gives every option of every built-in plugin a type, a default (or says it has none), a description and an example', () => {
    const rows = steps.flatMap((s) => s.options.map((o) => ({ plugin: s.plugin, ...o })));
    expect(rows.length).toBeGreaterThan(130);
    const lacking = rows.filter((o) => !o.type || !o.default || !o.description || !o.example).map((o) => `${o.plugin} ${o.path}: ${!o.description ? 'description ' : ''}${!o.example ? 'example' : ''}`);
    expect(lacking).toEqual([]);
    // The options a first recipe needs, as a user looks them up.
    expect(reference).toContain('| `method` | `minmax`, `percentile`, `entropy`, `mse`, `auto` | `percentile` | `method: auto` |');
    expect(reference).toContain('| `exclude.nodes` | list of strings | `[]` |');
    expect(reference).toContain('| `target.agreement` | number (0, 1] | — | `agreement: 0.995` |');
  });

  it('lists every metric with its unit (numbers) or its kind, and what it is', () => {
    for (const s of steps) {
      expect(s.metrics ?? (s.openMetrics ? [] : undefined), `${s.plugin} declares no metrics`).toBeDefined();
      for (const m of s.metrics ?? []) {
        expect(m.unit, `${s.plugin}.${m.path}`).not.toBe('');
        expect(m.description, `${s.plugin}.${m.path}`).not.toBe('');
        if (m.gate) expect(['higher', 'lower', 'none']).toContain(m.better);
      }
    }
    expect(reference).toContain('Metrics (gate as `bench.<metric>`):');
    expect(reference).toMatch(/\| `agreement` \| ratio \| higher \| /);
    expect(reference).toMatch(/\| `sizes\.int8` \| bytes \| lower \| /);
  });

  it('lists every top-level recipe key, the gate syntax and every exit code', () => {
    for (const key of Object.keys(schema.properties)) expect(reference).toContain(`| \`${key}\` |`);
    expect(reference).toContain('## Gates');
    expect(reference).toContain('bench.agreement: ">= 0.995"');
    const documented = EXIT_CODES.map(([code]) => Number(code));
    for (const code of [...Object.values(EXIT), 130, 143]) expect(documented).toContain(code);
    for (const code of documented) expect(reference).toContain(`| \`${code}\` |`);
  });
});

describe('shipped recipes', () => {
  const recipes = readdirSync(join(REPO, 'recipes')).filter((f) => /\.ya?ml$/.test(f));

  it.each(recipes)('recipes/%s starts with the yaml-language-server $schema line, pointing at the schema', (name) => {
    const first = readFileSync(join(REPO, 'recipes', name), 'utf8').split('\n')[0]!;
    const m = /^# yaml-language-server: \$schema=(\S+)$/.exec(first);
    expect(m, first).not.toBeNull();
    expect(resolve(dirname(join(REPO, 'recipes', name)), m![1]!)).toBe(join(REPO, 'schemas/recipe.schema.json'));
    expect(existsSync(join(REPO, 'schemas/recipe.schema.json'))).toBe(true);
  });
});
