// parseRecipe: YAML → schema → normalised Recipe, with every diagnostic pointing at file:line:col.
// Positions are 1-based, as the yaml library's LineCounter gives them and as editors show them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Diagnostic } from '../errors.ts';
import { defaultStepId, loadRecipe, parseRecipe, type Result } from './load-recipe.ts';
import type { Recipe } from './recipe.ts';

const FILE = '/recipes/test.yaml';

function errorsOf(r: Result<Recipe>): Diagnostic[] {
  if (r.ok) throw new Error('expected the recipe to be rejected, it was accepted');
  return r.errors;
}

function valueOf(r: Result<Recipe>): Recipe {
  if (!r.ok) throw new Error(`expected the recipe to be accepted, got: ${r.errors.map((e) => e.message).join('; ')}`);
  return r.value;
}

/** The single diagnostic with `code`; fails when there is none or several. */
function only(errors: Diagnostic[], code: string): Diagnostic {
  const hits = errors.filter((e) => e.code === code);
  expect(hits, `diagnostics with code ${code} in ${JSON.stringify(errors)}`).toHaveLength(1);
  return hits[0]!;
}

describe('parseRecipe: a valid recipe', () => {
  const text = [
    '# a comment',
    'version: 1',
    'name: tiny-int8',
    'model: ../models/bert-langid',
    'data:',
    '  calibration: ../data/langid/calib.jsonl',
    'steps:',
    '  - id: load',
    '    uses: hf.load',
    '  - uses: qdq.insert',
    '    with: { ops: [MatMul] }',
    '  - uses: calibrate',
    '    inputs: { model: qdq-insert.model }',
    '    optional: true',
    'gates:',
    '  calibrate.agreement: ">= 0.99"',
    '',
  ].join('\n');

  it('normalises steps: ids default from the plugin name, options and inputs default to {}', () => {
    const recipe = valueOf(parseRecipe(text, FILE));
    expect(recipe.name).toBe('tiny-int8');
    expect(recipe.steps.map((s) => [s.id, s.uses, s.index, s.optional])).toEqual([
      ['load', 'hf.load', 0, false],
      ['qdq-insert', 'qdq.insert', 1, false],
      ['calibrate', 'calibrate', 2, true],
    ]);
    expect(recipe.steps[0]!.options).toEqual({});
    expect(recipe.steps[0]!.inputs).toEqual({});
    expect(recipe.steps[1]!.options).toEqual({ ops: ['MatMul'] });
    expect(recipe.steps[2]!.inputs).toEqual({ model: 'qdq-insert.model' });
  });

  it('resolves model and data paths from the recipe folder, and records where each step is', () => {
    const recipe = valueOf(parseRecipe(text, FILE));
    expect(recipe.dir).toBe('/recipes');
    expect(recipe.model?.path).toBe('/models/bert-langid');
    expect(recipe.model?.location).toEqual({ file: FILE, line: 4, col: 8 });
    expect(recipe.data.calibration?.path).toBe('/data/langid/calib.jsonl');
    expect(recipe.data.calibration?.location).toEqual({ file: FILE, line: 6, col: 16 });
    // A step's location is the start of its mapping (after "- ").
    expect(recipe.steps.map((s) => [s.location.line, s.location.col])).toEqual([
      [8, 5],
      [10, 5],
      [12, 5],
    ]);
  });

  it('parses gates into op and value, located at the gate key', () => {
    const recipe = valueOf(parseRecipe(text, FILE));
    expect(recipe.gates).toEqual([{ metric: 'calibrate.agreement', op: '>=', value: 0.99, location: { file: FILE, line: 16, col: 3 } }]);
  });

  it('hashes the data, not the formatting: comments and flow/block style do not change the hash', () => {
    const a = valueOf(parseRecipe('name: a\nsteps:\n  - uses: hf.load\n', FILE));
    const b = valueOf(parseRecipe('# comment\nsteps: [ { uses: hf.load } ]   # trailing\nname: "a"\n', FILE));
    const c = valueOf(parseRecipe('name: b\nsteps:\n  - uses: hf.load\n', FILE));
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(b.hash).toBe(a.hash);
    expect(c.hash).not.toBe(a.hash);
  });

  it('the locator maps paths back to positions, falling back to the deepest existing ancestor', () => {
    const recipe = valueOf(parseRecipe(text, FILE));
    expect(recipe.locator.locate(['steps', 1, 'with', 'ops', 0])).toEqual({ line: 11, col: 19 });
    expect(recipe.locator.locate(['steps', 1, 'with'], { key: true })).toEqual({ line: 11, col: 5 });
    // steps[1].with.nothing does not exist: the position of `with`'s value.
    expect(recipe.locator.locate(['steps', 1, 'with', 'nothing'])).toEqual({ line: 11, col: 11 });
    expect(recipe.locator.locate(['steps', 7])).toEqual({ line: 8, col: 3 });
  });
});

describe('parseRecipe: malformed YAML', () => {
  it('reports RECIPE_YAML with the parser message, for the file, and does not go on to the schema', () => {
    const errors = errorsOf(parseRecipe('name: x\nsteps:\n  - uses: hf.load\n    with: [a, b]]\n', FILE));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.code).toBe('RECIPE_YAML');
    expect(errors[0]!.message).toMatch(/^invalid YAML: .*flow-seq-end/);
    expect(errors[0]!.location?.file).toBe(FILE);
    expect(errors[0]!.hint).toBeTruthy();
  });

  it('rejects duplicate keys (uniqueKeys)', () => {
    const errors = errorsOf(parseRecipe('name: x\nname: y\nsteps:\n  - uses: hf.load\n', FILE));
    expect(errors.map((e) => e.code)).toEqual(['RECIPE_YAML']);
    expect(errors[0]!.message).toMatch(/unique/i);
  });

  // The yaml library only fills YAMLError.linePos with `prettyErrors: true`; without it every
  // RECIPE_YAML diagnostic lost its line and col (fixed in 25bbcfc; these guard it).
  it.each([
    ['an extra closing bracket', 'name: x\nsteps:\n  - uses: hf.load\n    with: [a, b]]\n', 4, 17],
    ['a nested mapping in a compact one', 'name: x\nsteps:\n  - uses: hf.load\n    id: a: b\n', 4, 9],
    ['a tab as indentation', 'name: x\nsteps:\n\t- uses: hf.load\n', 3, 1],
    ['a duplicate key', 'name: x\nname: y\nsteps:\n  - uses: hf.load\n', 2, 1],
  ])('locates %s at line:col, without repeating the position in the message', (_what, text, line, col) => {
    const errors = errorsOf(parseRecipe(text, FILE));
    expect(errors[0]!.location).toEqual({ file: FILE, line, col });
    expect(errors[0]!.message).not.toMatch(/at line \d+/);
  });
});

describe('parseRecipe: a file that is not a recipe', () => {
  it('a Markdown file passed as the recipe gives its first 5 YAML errors and says how many more, asking whether it is a recipe', () => {
    const markdown = Array.from({ length: 40 }, (_, i) => `- item ${i}: with "quotes" and: colons: everywhere\n  : stray`).join('\n');
    const errors = errorsOf(parseRecipe(markdown, '/work/README.md'));
    expect(errors).toHaveLength(5);
    expect(errors.every((e) => e.code === 'RECIPE_YAML')).toBe(true);
    expect(errors[4]!.hint).toMatch(/^\d+ more YAML error\(s\) follow; is README\.md a qrun recipe/);
    expect(errors[0]!.hint).toBe('check indentation and quoting around this line');
  });
});

describe('parseRecipe: schema errors', () => {
  it('an unknown top-level key gets a did-you-mean and points at the key', () => {
    const errors = errorsOf(parseRecipe('name: x\nstpes:\n  - uses: hf.load\n', FILE));
    const unknown = errors.find((e) => e.message.includes('"stpes"'));
    expect(unknown).toBeDefined();
    expect(unknown!.code).toBe('RECIPE_SCHEMA');
    expect(unknown!.message).toContain('expected one of: version, name, description, model, data, steps, gates');
    expect(unknown!.hint).toBe('did you mean "steps"?');
    expect(unknown!.location).toEqual({ file: FILE, line: 2, col: 1 });
    // `steps` is then missing as well, reported at the document.
    const missing = errors.find((e) => e.message.includes('missing the required key "steps"'));
    expect(missing?.location).toEqual({ file: FILE, line: 1, col: 1 });
  });

  it('an unknown key far from any known one gets no suggestion', () => {
    const errors = errorsOf(parseRecipe('name: x\nsteps:\n  - uses: hf.load\nzzzzzzzz: 1\n', FILE));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.location).toEqual({ file: FILE, line: 4, col: 1 });
    expect(errors[0]!.hint).toBeUndefined();
  });

  it('an unknown key inside a step is located at that key with a suggestion', () => {
    const errors = errorsOf(parseRecipe('name: x\nsteps:\n  - uses: hf.load\n    wiht: {}\n', FILE));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toContain('unknown key "wiht" in steps[0]');
    expect(errors[0]!.hint).toBe('did you mean "with"?');
    expect(errors[0]!.location).toEqual({ file: FILE, line: 4, col: 5 });
  });

  it('a wrong type names the path, the expected type and the value, at the value', () => {
    const errors = errorsOf(parseRecipe('name: x\nsteps:\n  - uses: hf.load\n    optional: "yes"\n', FILE));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.code).toBe('RECIPE_SCHEMA');
    expect(errors[0]!.message).toBe('steps[0].optional must be boolean, got "yes"');
    expect(errors[0]!.location).toEqual({ file: FILE, line: 4, col: 15 });
  });

  it('steps given as a string is a type error at the value', () => {
    const errors = errorsOf(parseRecipe('name: x\nsteps: hf.load\n', FILE));
    expect(errors.map((e) => [e.message, e.location?.line, e.location?.col])).toEqual([['steps must be array, got "hf.load"', 2, 8]]);
  });

  it('a step without `uses` is reported at the step', () => {
    const errors = errorsOf(parseRecipe('name: x\nsteps:\n  - id: load\n', FILE));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toBe('steps[0] is missing the required key "uses"');
    expect(errors[0]!.location).toEqual({ file: FILE, line: 3, col: 5 });
  });

  it('a malformed gate expression and a bad input reference pattern are rejected by the schema', () => {
    const gate = errorsOf(parseRecipe('name: x\nsteps:\n  - uses: hf.load\ngates:\n  hf-load.x: "about 3"\n', FILE));
    expect(gate).toHaveLength(1);
    expect(gate[0]!.message).toContain('gates.hf-load.x');
    expect(gate[0]!.location).toEqual({ file: FILE, line: 5, col: 14 });
    const ref = errorsOf(parseRecipe('name: x\nsteps:\n  - uses: patch\n    inputs: { model: nodot }\n', FILE));
    expect(ref).toHaveLength(1);
    expect(ref[0]!.location).toEqual({ file: FILE, line: 4, col: 22 });
  });

  it('reports every schema problem at once', () => {
    const errors = errorsOf(parseRecipe('name: x\nsteps:\n  - uses: hf.load\n    optional: 1\n  - uses: patch\n    wiht: {}\nmodle: m\n', FILE));
    expect(errors.map((e) => `${e.location?.line}:${e.location?.col}`).sort()).toEqual(['4:15', '6:5', '7:1']);
  });
});

describe('parseRecipe: step ids and gates', () => {
  it('a duplicate step id (explicit or from the plugin name) is reported at the second one', () => {
    const errors = errorsOf(parseRecipe('name: x\nsteps:\n  - uses: hf.load\n  - id: hf-load\n    uses: patch\n', FILE));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.code).toBe('RECIPE_DUPLICATE_STEP');
    expect(errors[0]!.message).toBe('duplicate step id "hf-load" (also step 1)');
    expect(errors[0]!.location).toEqual({ file: FILE, line: 4, col: 9 });
  });

  it('two steps using the same plugin without ids collide at the second `uses`', () => {
    const errors = errorsOf(parseRecipe('name: x\nsteps:\n  - uses: patch\n  - uses: patch\n', FILE));
    const dup = only(errors, 'RECIPE_DUPLICATE_STEP');
    expect(dup.location).toEqual({ file: FILE, line: 4, col: 11 });
  });

  it('a gate naming a step the recipe does not have is an error listing the steps', () => {
    const errors = errorsOf(parseRecipe('name: x\nsteps:\n  - id: load\n    uses: hf.load\ngates:\n  bench.agreement: ">= 0.99"\n', FILE));
    const gate = only(errors, 'RECIPE_GATE');
    expect(gate.message).toContain('"bench"');
    expect(gate.hint).toBe('steps: load');
    expect(gate.location).toEqual({ file: FILE, line: 6, col: 3 });
  });
});

describe('defaultStepId', () => {
  it.each([
    ['hf.load', 'hf-load'],
    ['qdq.insert', 'qdq-insert'],
    ['./plugins/my.plugin.ts', 'my-plugin-ts'],
    ['qrun-plugin-prune', 'prune'],
    ['@scope/qrun-plugin-fuse', 'fuse'],
    ['2fast', 'fast'],
    ['...', 'step'],
  ])('%s → %s', (uses, id) => {
    expect(defaultStepId(uses)).toBe(id);
  });
});

describe('loadRecipe', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qrun-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file and locates diagnostics in it by absolute path', async () => {
    const file = join(dir, 'r.yaml');
    writeFileSync(file, 'name: x\nsteps:\n  - uses: hf.load\n    optional: "no"\n');
    const errors = errorsOf(await loadRecipe(file));
    expect(errors[0]!.location).toEqual({ file, line: 4, col: 15 });
  });

  it('a missing file is RECIPE_NOT_FOUND naming the path', async () => {
    const errors = errorsOf(await loadRecipe(join(dir, 'missing.yaml')));
    expect(errors.map((e) => e.code)).toEqual(['RECIPE_NOT_FOUND']);
    expect(errors[0]!.message).toContain('missing.yaml');
  });
});
