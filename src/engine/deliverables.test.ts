// The deliverables folder: which outputs are delivered and how `outputs:` is checked (with recipe
// positions), and the folder itself — files laid out as the cache lays them out (an entry's out/
// folder, a model with its external data written by the real writer), placed by copy or hard link,
// swapped whole, loadable by onnxruntime where they land. Whole runs are in tests/e2e/deliverables.test.ts.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { floatTensor, model, node, valueInfo } from '../../tests/helpers/onnx-build.ts';
import { seededRandom, useTempDir } from '../../tests/helpers/temp.ts';
import { QrunError } from '../errors.ts';
import { makeFloatTensor } from '../onnx/tensor.ts';
import { DataType } from '../onnx/types.ts';
import { parseRecipe } from '../recipe/load-recipe.ts';
import type { Recipe } from '../recipe/recipe.ts';
import type { Report } from '../report/build-report.ts';
import { digestModelFile, writeModelFile } from '../runtime/model-file.ts';
import { createSession } from '../runtime/session.ts';
import { sha256File } from '../util/hash.ts';
import { builtinRegistry } from './builtin-plugins.ts';
import { checkDeliverablesTarget, Delivery, variantFolderName, type DeliverablesManifest } from './deliverables.ts';
import { selectDeliverables } from './deliverables-select.ts';
import type { StepRecord } from './executor.ts';
import { planRecipe, type ResolvedStep } from './plan.ts';

const root = useTempDir();
let counter = 0;
const fresh = (name: string) => {
  const dir = join(root, `${name}-${++counter}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

function planned(dir: string, lines: string[]): { recipe: Recipe; steps: ResolvedStep[]; errors: ReturnType<typeof planRecipe>['errors'] } {
  const file = join(dir, 'recipe.yaml');
  writeFileSync(file, lines.join('\n') + '\n');
  const r = parseRecipe(lines.join('\n') + '\n', file);
  if (!r.ok) throw new Error(`test recipe does not parse: ${r.errors.map((e) => e.message).join('; ')}`);
  return { recipe: r.value, ...planRecipe(r.value, builtinRegistry()) };
}

const BERT_LIKE = [
  'name: bert',
  'model: ./model',
  'steps:',
  '  - { id: load, uses: hf.load }',
  '  - { id: qdq, uses: qdq.insert }',
  '  - { id: calibrate, uses: calibrate }',
  '  - { id: save, uses: onnx.save }',
  '  - { id: engine, uses: trtexec, optional: true }',
  '  - { id: triton, uses: triton }',
  '  - { id: bench, uses: bench }',
];

describe('selectDeliverables', () => {
  it('by default: the final model, the engine and the Triton repository (named triton/)', () => {
    const p = planned(fresh('select'), BERT_LIKE);
    expect(p.errors).toEqual([]);
    expect(selectDeliverables(p.recipe, p.steps).refs.map((r) => [`${r.step}.${r.output}`, r.to, r.optional])).toEqual([
      ['save.model', 'model.onnx', false],
      ['engine.engine', 'model.plan', true],
      ['triton.repository', 'triton', false],
    ]);
    // Without onnx.save the final model is the last one any step writes.
    const q = planned(fresh('select'), BERT_LIKE.filter((l) => !/save|engine|triton/.test(l)));
    expect(selectDeliverables(q.recipe, q.steps).refs.map((r) => `${r.step}.${r.output}`)).toEqual(['calibrate.model']);
  });

  it('outputs: lists exactly what is delivered, under `to:` when given', () => {
    const p = planned(fresh('select'), [...BERT_LIKE, 'outputs:', '  - { from: save.model, to: models/bert-int8.onnx }', '  - bench.result']);
    expect(p.errors).toEqual([]);
    expect(selectDeliverables(p.recipe, p.steps).refs.map((r) => [`${r.step}.${r.output}`, r.to])).toEqual([
      ['save.model', 'models/bert-int8.onnx'],
      ['bench.result', 'bench.json'],
    ]);
  });

  it('qrun validate reports an unknown step or output at its line:col with a did-you-mean, a path outside the folder and two entries on one path', () => {
    const p = planned(fresh('select'), [
      ...BERT_LIKE,
      'outputs:',
      '  - save.modle', // line 12
      '  - sav.model',
      '  - { from: save.model, to: ../elsewhere.onnx }',
      '  - { from: calibrate.stats, to: report.md }',
      '  - { from: calibrate.model, to: model.onnx }',
      '  - { from: qdq.model, to: model.onnx }',
    ]);
    const byCode = p.errors.map((e) => [e.code, e.location?.line, e.location?.col, e.message, e.hint]);
    expect(byCode).toEqual([
      ['RECIPE_BAD_REFERENCE', 12, 5, 'outputs: step "save" (onnx.save) has no output "modle"; its outputs: model', 'did you mean "save.model"?'],
      ['RECIPE_BAD_REFERENCE', 13, 5, 'outputs: "sav.model" names step "sav", which the recipe does not have', expect.stringMatching(/^did you mean "save\.model"\? steps: load, qdq/)],
      ['RECIPE_OUTPUT_PATH', 14, 29, 'outputs: "to: ../elsewhere.onnx" is not a path inside the deliverables folder', expect.any(String)],
      ['RECIPE_OUTPUT_CLASH', 15, 34, 'outputs: "calibrate.stats" would be written as report.md, a name qrun keeps for report.md', expect.any(String)],
      ['RECIPE_OUTPUT_CLASH', 17, 28, 'outputs: "qdq.model" would be written as model.onnx, where "calibrate.model" goes (as model.onnx)', 'give it another name: { from: qdq.model, to: qdq-model.onnx }'],
    ]);
  });

  it('an entry the schema refused (validate plans such a recipe too) is left to the schema\'s error, without a crash', () => {
    const p = planned(fresh('select'), BERT_LIKE);
    const location = { file: p.recipe.file };
    p.recipe.outputs = [{ from: 5 as unknown as string, location }, { from: 'save', location }, { from: 'save.model', to: {} as unknown as string, location }];
    expect(selectDeliverables(p.recipe, p.steps)).toEqual({ refs: [], errors: [] });
  });

  it('a step that failed to plan gets no second error from outputs:', () => {
    const p = planned(fresh('select'), ['name: x', 'steps:', '  - { id: save, uses: onnx.sav }', 'outputs: [save.model]']);
    expect(p.errors.map((e) => e.code)).toEqual(['RECIPE_UNKNOWN_PLUGIN']);
  });
});

describe('variantFolderName', () => {
  it('keeps a usual label readable and gives labels that differ only in unsafe characters different folders', () => {
    expect(variantFolderName('method=minmax,activations=int8')).toBe('method=minmax,activations=int8');
    expect(variantFolderName('percentile=99.99')).toBe('percentile=99.99');
    const names = ['a=x y', 'a=x/y', 'a=x%20y', 'a=x-y', 'a=x?y', '.a=x'].map(variantFolderName);
    expect(names).toEqual(['a=x%20y', 'a=x%2Fy', 'a=x%2520y', 'a=x-y', 'a=x%3Fy', '%2Ea=x']);
    expect(new Set(names).size).toBe(names.length);
  });
});

// ---- the folder --------------------------------------------------------------------------------

const rand = seededRandom(11);
/** x [2, 64] · W1 [64, 30] → · W2 [30, 9]: both weights above the external-data threshold. */
function smallModel() {
  const w = (name: string, dims: number[]) => makeFloatTensor(name, dims, Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rand() - 0.5));
  return model({
    nodes: [node('MatMul', ['x', 'w1'], ['h'], 'mm1'), node('MatMul', ['h', 'w2'], ['y'], 'mm2')],
    inputs: [valueInfo('x', DataType.FLOAT, [2, 64])],
    outputs: [valueInfo('y', DataType.FLOAT, [2, 9])],
    initializers: [w('w1', [64, 30]), w('w2', [30, 9])],
  });
}

async function outputOf(path: string): Promise<number[]> {
  const session = await createSession(path, { optimization: 'disabled' });
  const y = (await session.run({ x: floatTensor(Array.from({ length: 128 }, (_, i) => Math.sin(i)), [2, 64]) }))['y']!.data as Float32Array;
  await session.release();
  return [...y];
}

/**
 * A cache as the store lays it out: entries/<k[0:2]>/<key>/out/ for load (a model.onnx) and save
 * (model.onnx with its weights in model.onnx.data when `external`), and the step records a run makes.
 */
async function cacheWithRun(dir: string, opts: { external: boolean; status?: StepRecord['status'] }) {
  const entry = (key: string) => {
    const out = join(dir, 'cache', 'entries', key.slice(0, 2), key, 'out');
    mkdirSync(out, { recursive: true });
    return out;
  };
  const loadOut = entry('11'.repeat(32));
  const saveOut = entry('22'.repeat(32));
  await writeModelFile(smallModel(), join(loadOut, 'model.onnx'));
  await writeModelFile(smallModel(), join(saveOut, 'model.onnx'), opts.external ? { externalData: 'always', threshold: 1024 } : {});
  // As the cache records a model: its digest covers the external data it names (src/cache/artifact-digest.ts).
  const output = async (path: string) => ({ kind: 'onnx-model', path, ...(await digestModelFile(path)) });
  const record = (id: string, plugin: string, key: string, outputs: StepRecord['outputs']): StepRecord => ({
    id,
    uses: plugin,
    plugin,
    pluginVersion: '1.0.0',
    key,
    status: opts.status ?? 'ran',
    durationMs: 1,
    metrics: {},
    outputs,
    options: {},
  });
  return [record('load', 'hf.load', '11'.repeat(32), { model: await output(join(loadOut, 'model.onnx')) }), record('save', 'onnx.save', '22'.repeat(32), { model: await output(join(saveOut, 'model.onnx')) })];
}

function reportOf(runId: string, status: Report['run']['status'] = 'passed'): Report {
  return { run: { id: runId, status, finishedAt: '2026-01-01T00:00:00.000Z' } } as Report;
}

/** A run folder with the three reports, as run.ts writes them before the delivery commits. */
function runFolder(dir: string, runId: string): string {
  const runDir = join(dir, 'runs', runId);
  mkdirSync(runDir, { recursive: true });
  for (const f of ['report.json', 'report.md', 'report.html']) writeFileSync(join(runDir, f), `${f} of ${runId}\n`);
  return runDir;
}

const SAVE_RECIPE = ['name: small', 'model: ./model', 'steps:', '  - { id: load, uses: hf.load }', '  - { id: save, uses: onnx.save }'];

async function deliver(dir: string, lines: string[], records: StepRecord[], runId: string, options = {}, status: Report['run']['status'] = 'passed') {
  const p = planned(dir, lines);
  const report = reportOf(runId, status);
  const delivery = await Delivery.prepare({ recipe: p.recipe, steps: p.steps, records, report, options });
  await delivery.commit(runFolder(dir, runId));
  return { delivery, report, out: join(dir, 'out', 'small') };
}

const manifestOf = (out: string) => JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as DeliverablesManifest;
const listFiles = (dir: string, base = ''): string[] =>
  readdirSync(join(dir, base), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(dir, join(base, e.name)) : [join(base, e.name)])).sort();

describe('Delivery', () => {
  it("a model's external data travels with it, also under another name, and the delivered model loads and computes what the cache's does", async () => {
    const dir = fresh('external');
    const records = await cacheWithRun(dir, { external: true });
    const cached = records[1]!.outputs.model!.path;
    const { out, report, delivery } = await deliver(dir, [...SAVE_RECIPE, 'outputs: [{ from: save.model, to: models/small-int8.onnx }]'], records, 'run-1');
    expect(listFiles(out)).toEqual(['manifest.json', 'models/model.onnx.data', 'models/small-int8.onnx', 'report.html', 'report.json', 'report.md']);
    const m = manifestOf(out);
    for (const f of m.files) expect(await sha256File(join(out, f.path))).toBe(f.sha256);
    expect(m.files.find((f) => f.path === 'models/model.onnx.data')).toMatchObject({ from: 'save.model', externalDataOf: 'models/small-int8.onnx', key: '22'.repeat(32) });
    expect(await outputOf(join(out, 'models/small-int8.onnx'))).toEqual(await outputOf(cached));
    expect(report.deliverables?.files.map((f) => [f.path, f.from])).toEqual([
      ['out/small/models/small-int8.onnx', 'save.model'],
      ['out/small/models/model.onnx.data', 'save.model (external data)'],
      ['out/small/report.json', 'report'],
      ['out/small/report.md', 'report'],
      ['out/small/report.html', 'report'],
    ]);
    expect(delivery.line()).toMatch(/^deliverables: .*out\/small\/ \(models\/small-int8\.onnx, models\/model\.onnx\.data, report\.json\/\.md\/\.html, manifest\.json\)$/);
  });

  it('copies by default (a deliverable edited in place leaves the cache entry as it was); --out-mode link hard-links', async () => {
    const dir = fresh('modes');
    const records = await cacheWithRun(dir, { external: false });
    const cached = records[1]!.outputs.model!.path;
    const { out } = await deliver(dir, SAVE_RECIPE, records, 'run-1');
    expect(statSync(join(out, 'model.onnx')).ino).not.toBe(statSync(cached).ino);
    writeFileSync(join(out, 'model.onnx'), 'edited in place', { flag: 'r+' });
    expect(await sha256File(cached)).toBe(records[1]!.outputs.model!.sha256);

    const linked = await deliver(dir, SAVE_RECIPE, records, 'run-2', { outMode: 'link' });
    expect(statSync(join(linked.out, 'model.onnx')).ino).toBe(statSync(cached).ino);
    expect(manifestOf(linked.out).files.find((f) => f.path === 'model.onnx')).toMatchObject({ hardLink: true });
    expect(manifestOf(linked.out).mode).toBe('link');
  });

  it('a second delivery replaces the folder whole: what the first delivered and the second does not is gone, and what a killed run left is cleared', async () => {
    const dir = fresh('replace');
    const records = await cacheWithRun(dir, { external: true });
    const first = await deliver(dir, SAVE_RECIPE, records, 'run-1');
    expect(existsSync(join(first.out, 'model.onnx.data'))).toBe(true);
    // A run killed while it delivered leaves its stage and the folder it had renamed aside.
    mkdirSync(join(dir, 'out', '.small.tmp-killed'));
    mkdirSync(join(dir, 'out', '.small.old-killed'));
    const second = await deliver(dir, [...SAVE_RECIPE, 'outputs: [load.model]'], records, 'run-2');
    expect(manifestOf(second.out).run.id).toBe('run-2');
    expect(listFiles(second.out)).toEqual(['manifest.json', 'model.onnx', 'report.html', 'report.json', 'report.md']);
    expect(readFileSync(join(second.out, 'report.md'), 'utf8')).toBe('report.md of run-2\n');
    expect(readdirSync(join(dir, 'out'))).toEqual(['small']);
  });

  it('a failed or partial run leaves the previous deliverables and says whose they are', async () => {
    const dir = fresh('failed');
    const records = await cacheWithRun(dir, { external: false });
    const { out } = await deliver(dir, SAVE_RECIPE, records, 'run-1');
    const before = readFileSync(join(out, 'manifest.json'), 'utf8');
    const failed = await deliver(dir, SAVE_RECIPE, records, 'run-2', {}, 'failed');
    expect(failed.delivery.line()).toMatch(/^deliverables in .*out\/small\/ are from run run-1 \(passed\), not updated: the run failed$/);
    expect(failed.report.deliverables).toMatchObject({ dir: 'out/small', updated: false, reason: 'the run failed', fromRun: { id: 'run-1', status: 'passed' }, files: [] });
    const partial = await deliver(dir, SAVE_RECIPE, [records[0]!, { ...records[1]!, status: 'not-run', outputs: {} }], 'run-3');
    expect(partial.delivery.line()).toMatch(/not updated: this run left out save \(--until\/--only\)/);
    expect(readFileSync(join(out, 'manifest.json'), 'utf8')).toBe(before);
  });

  it('a run whose gates failed is delivered, with the verdict in the manifest and the line', async () => {
    const dir = fresh('gates');
    const records = await cacheWithRun(dir, { external: false });
    const { out, delivery } = await deliver(dir, SAVE_RECIPE, records, 'run-1', {}, 'gates-failed');
    expect(manifestOf(out).run.status).toBe('gates-failed');
    expect(delivery.line()).toMatch(/from a run whose gates FAILED: for debugging, not for shipping$/);
  });

  it('will not replace a folder that holds files qrun did not put there (exit 2), and accepts its own', async () => {
    const dir = fresh('ours');
    const p = planned(dir, SAVE_RECIPE);
    mkdirSync(join(dir, 'out', 'small'), { recursive: true });
    await checkDeliverablesTarget(p.recipe); // empty
    writeFileSync(join(dir, 'out', 'small', 'notes.txt'), 'mine');
    const refused = await checkDeliverablesTarget(p.recipe).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(QrunError);
    expect(refused).toMatchObject({ code: 'OUT_DIR_NOT_OURS', exitCode: 2 });
    expect((refused as QrunError).message).toMatch(/holds notes\.txt, which qrun did not put there/);
    await checkDeliverablesTarget(p.recipe, { out: join(dir, 'elsewhere') });
    const records = await cacheWithRun(dir, { external: false });
    const { out } = await deliver(dir, SAVE_RECIPE, records, 'run-1', { out: join(dir, 'elsewhere') });
    expect(out).not.toBe(join(dir, 'elsewhere'));
    expect(manifestOf(join(dir, 'elsewhere')).run.id).toBe('run-1');
    await checkDeliverablesTarget(p.recipe, { out: join(dir, 'elsewhere') });
  });
});
