// The docs are enough to write a recipe (issue 12, section 4, "done when"): the recipe that
// README.md's "Writing your own recipe" shows — calibrate with entropy, keep the classifier in
// float with exclude.nodes, gate on agreement ≥ 0.995 — is taken from the README as it is written,
// checked against what docs/recipe-reference.md documents, saved where the README says and run on
// the shipped model through the real CLI. Had the README named an option, a step id or a metric
// wrongly, this run would fail.
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { Report } from '../../src/report/build-report.ts';
import { qrun, REPO, tempDir } from '../helpers/cli.ts';

const README = readFileSync(join(REPO, 'README.md'), 'utf8');
const REFERENCE = readFileSync(join(REPO, 'docs/recipe-reference.md'), 'utf8');

/** The first ```yaml block after the heading, as the README shows it. */
function yamlAfter(heading: string): string {
  const at = README.indexOf(heading);
  expect(at, `README has no "${heading}"`).toBeGreaterThan(-1);
  const m = /```yaml\n([\s\S]*?)```/.exec(README.slice(at));
  expect(m, `no yaml block after "${heading}"`).not.toBeNull();
  return m![1]!;
}

/** The reference's rows for one step (its section up to the next step). */
function referenceSection(plugin: string): string {
  const start = REFERENCE.indexOf(`### \`${plugin}\``);
  expect(start, `reference has no section for ${plugin}`).toBeGreaterThan(-1);
  const next = REFERENCE.indexOf('\n### ', start + 1);
  return REFERENCE.slice(start, next === -1 ? undefined : next);
}

describe('the recipe README.md teaches, run as written', () => {
  const text = yamlAfter('### Writing your own recipe');
  const recipe = parse(text) as { steps: { uses: string; with?: Record<string, unknown> }[]; gates: Record<string, string> };

  it('uses only what docs/recipe-reference.md documents, and validates against the schema its first line names', () => {
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../schemas/recipe.schema.json');
    const schema = JSON.parse(readFileSync(join(REPO, 'schemas/recipe.schema.json'), 'utf8')) as object;
    const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
    expect(validate(recipe) ? [] : validate.errors).toEqual([]);
    // The three things the recipe is for, each where the reference says it is.
    const calibrate = recipe.steps.find((s) => s.uses === 'calibrate');
    expect(calibrate?.with).toEqual({ method: 'entropy' });
    expect(referenceSection('calibrate')).toMatch(/\| `method` \| .*`entropy`/);
    const qdq = recipe.steps.find((s) => s.uses === 'qdq.insert');
    expect(qdq?.with).toEqual({ exclude: { nodes: ['classifier'] } });
    expect(referenceSection('qdq.insert')).toContain('| `exclude.nodes` |');
    expect(recipe.gates).toEqual({ 'bench.agreement': '>= 0.995' });
    const bench = referenceSection('bench');
    expect(bench).toContain('Default step id: `bench`');
    expect(bench).toMatch(/\| `agreement` \| ratio \| higher \|/);
  });

  it('runs on the shipped model: entropy scales, the classifier in float, the agreement gate evaluated and passing', async () => {
    // The layout the README assumes: the recipe in recipes/, the model and data beside that folder.
    const root = tempDir('qrun-docs-recipe-');
    for (const d of ['models', 'data', 'schemas']) symlinkSync(join(REPO, d), join(root, d));
    mkdirSync(join(root, 'recipes'));
    writeFileSync(join(root, 'recipes/langid-entropy.yaml'), text);

    const run = await qrun(['recipes/langid-entropy.yaml'], { cwd: root });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/gate bench\.agreement >= 0\.995: [\d.]+ — pass/);

    const runs = join(root, 'recipes/.qrun/runs');
    const [runId] = readdirSync(runs);
    const report = JSON.parse(readFileSync(join(runs, runId!, 'report.json'), 'utf8')) as Report;
    expect(report.run.status).toBe('passed');
    expect(report.steps.map((s) => s.id)).toEqual(['hf-load', 'patch', 'qdq-insert', 'calibrate', 'onnx-save', 'bench']);
    expect(report.steps.find((s) => s.id === 'calibrate')?.metrics.method).toBe('entropy');
    const gate = report.gates.find((g) => g.metric === 'bench.agreement');
    expect(gate).toMatchObject({ op: '>=', value: 0.995, pass: true });
    expect(gate!.actual).toBeGreaterThanOrEqual(0.995);

    // The head stayed float because of the exclusion; every other quantizable node is int8.
    const inspect = await qrun(['inspect', join(runs, runId!), '--json'], { cwd: root });
    expect(inspect.exitCode, inspect.stderr).toBe(0);
    const result = JSON.parse(inspect.stdout) as { graph: { quantizable: { name: string; precision: string }[] }; floatReasons: Record<string, string> };
    const float = result.graph.quantizable.filter((n) => n.precision === 'float').map((n) => n.name);
    expect(float).toEqual(['/m/classifier/Gemm']);
    expect(result.floatReasons['/m/classifier/Gemm']).toBe('qdq-insert: excluded by name');
    expect(result.graph.quantizable.filter((n) => n.precision === 'int8')).toHaveLength(33);
  });
});
