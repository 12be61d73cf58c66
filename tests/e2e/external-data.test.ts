// Models as big-model exporters ship them, through the real CLI: the shipped BERT re-saved with ONNX
// external data in the two common layouts — onnx/model.onnx + model.onnx_data packed (onnx.save_model,
// as Optimum calls it) and onnx/model.onnx + model.onnx.data with tensors over 1 MiB at 64 KiB-aligned
// offsets (onnx-ir, as torch.onnx's dynamo exporter calls it), threshold 1 KiB (onnx's default) —
// runs the main recipe's steps (recipes/bert-int8.yaml) and gives the same INT8 model, byte for byte,
// and the same numbers as the single-file model. A data file that is missing, truncated or outside
// the model's folder fails at the first step that reads the model, naming the tensor and the file.
// (On main: qdq.insert failed with 'has its data in model.onnx.data, which is not beside the model':
// hf.load copied model.onnx without its data.)
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeModel, encodeModel } from '../../src/onnx/model-io.ts';
import type { Report } from '../../src/report/build-report.ts';
import { readModelGraph, writeModelFile, type WriteModelOptions } from '../../src/runtime/model-file.ts';
import { sha256File } from '../../src/util/hash.ts';
import { BERT_DIR, BERT_ONNX } from '../helpers/bert-langid.ts';
import { qrun, REPO, tempDir, type QrunResult } from '../helpers/cli.ts';
import { latestReport, step } from '../helpers/report.ts';

const work = tempDir();

/** The shipped model folder (config, tokenizer) with onnx/model.onnx as one file or in `layout`. */
async function modelFolder(name: string, layout?: WriteModelOptions): Promise<string> {
  const dir = join(work, 'models', name);
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  for (const f of readdirSync(BERT_DIR)) if (f.endsWith('.json') || f.endsWith('.txt')) copyFileSync(join(BERT_DIR, f), join(dir, f));
  if (layout) await writeModelFile(await readModelGraph(BERT_ONNX), join(dir, 'onnx', 'model.onnx'), { externalData: 'always', threshold: 1024, ...layout });
  else copyFileSync(BERT_ONNX, join(dir, 'onnx', 'model.onnx'));
  return dir;
}

/** recipes/bert-int8.yaml as it is, on another model folder (paths made absolute). */
function mainRecipe(name: string, model: string): string {
  // The numbers compared are accuracy, agreement and errors, not latency: one short timed shape keeps
  // the three runs of the main recipe cheap (the full grid took ~15 s of each run on 2 cores).
  const LIGHT_BENCH = 'shapes:\n        - { batch: 1, sequence: 32 }\n      warmup: 1\n      iterations: 4\n      blocks: 2\n';
  const text = readFileSync(join(REPO, 'recipes/bert-int8.yaml'), 'utf8')
    .replace(/^model: .*$/m, `model: ${model}`)
    .replaceAll('../data/', `${join(REPO, 'data')}/`)
    .replace(/shapes:\n(\s+- \{ batch: \d+, sequence: \d+ \}\n)+\s+warmup: \d+\n\s+iterations: \d+\n/, LIGHT_BENCH);
  expect(text).toContain(`model: ${model}`);
  expect(text).toContain(LIGHT_BENCH);
  const file = join(work, name, 'recipe.yaml');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

interface Run {
  result: QrunResult;
  report: Report;
  cache: string;
}

async function runMain(name: string, model: string): Promise<Run> {
  const cache = join(work, name, 'cache');
  const result = await qrun([mainRecipe(name, model), '--cache', cache]);
  return { result, report: latestReport(cache).report, cache };
}

const modelPath = (run: Run, id: string) => join(run.cache, 'cache', step(run.report, id).outputs.model!.path);
const benchNumbers = (run: Run) => {
  const m = step(run.report, 'bench').metrics as Record<string, unknown>;
  return { agreement: m.agreement, fp32Accuracy: m.fp32Accuracy, int8Accuracy: m.int8Accuracy, maxAbsError: m.maxAbsError, meanCosine: m.meanCosine, perClass: m.perClass, int8Size: (m.sizes as { int8: number }).int8 };
};

describe('the main recipe on the shipped model saved with external data', () => {
  const runs: Record<string, Run> = {};
  const layouts: Record<string, WriteModelOptions> = {
    'model.onnx_data': { location: 'model.onnx_data', alignment: 1 },
    'model.onnx.data': { location: 'model.onnx.data', alignment: 65536, alignAbove: 2 ** 20 },
  };

  beforeAll(async () => {
    runs.single = await runMain('single', await modelFolder('single'));
    for (const [data, layout] of Object.entries(layouts)) runs[data] = await runMain(data, await modelFolder(data, layout));
  }, 900_000);

  for (const data of Object.keys(layouts)) {
    it(`${data}: every step runs, and the FP32 model travels through the cache with its data file`, () => {
      const run = runs[data]!;
      expect(run.result.stderr).not.toMatch(/internal error|not beside the model/);
      expect(run.result.exitCode).toBe(0);
      expect(run.report.steps.map((s) => [s.id, s.status])).toEqual(['load', 'patch', 'qdq', 'calibrate', 'save', 'engine', 'triton', 'bench'].map((id) => [id, id === 'engine' ? 'skipped' : 'ran']));
      // hf.load's and patch's (no rule applies) out folders hold the model and its data file, and
      // their digests cover the data (a single-file model's digest is its file's sha256).
      for (const id of ['load', 'patch']) {
        const model = modelPath(run, id);
        const dataFile = join(dirname(model), data);
        expect(existsSync(dataFile), `${id}: ${dataFile}`).toBe(true);
        expect(readFileSync(dataFile).equals(readFileSync(join(work, 'models', data, 'onnx', data)))).toBe(true);
        expect(step(run.report, id).outputs.model!.size).toBe(statSync(model).size + statSync(dataFile).size);
      }
    });

    it(`${data}: the same INT8 model, byte for byte, and the same numbers as the single-file model`, async () => {
      const run = runs[data]!;
      const single = runs.single!;
      expect(single.result.exitCode).toBe(0);
      const [a, b] = [readFileSync(modelPath(single, 'save')), readFileSync(modelPath(run, 'save'))];
      // Every initializer of the saved INT8 model: same name, same bytes.
      const inits = (bytes: Buffer) => decodeModel(bytes).graph.initializer.map((t) => [t.name, Buffer.from(t.rawData ?? []).toString('base64')]);
      expect(inits(b)).toEqual(inits(a));
      expect(b.equals(a)).toBe(true);
      expect(existsSync(`${modelPath(run, 'save')}.data`)).toBe(false); // it fits in one file
      expect(benchNumbers(run)).toEqual(benchNumbers(single));
      expect(step(run.report, 'calibrate').metrics).toMatchObject({ samples: (step(single.report, 'calibrate').metrics as { samples: number }).samples });
      // The single-file model's own load output is digested as the file (cache keys did not change).
      expect(step(single.report, 'load').outputs.model!.sha256).toBe(await sha256File(modelPath(single, 'load')));
    });
  }
});

describe('external data in the Triton repository, in qrun inspect, and in a step that forgets it', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await modelFolder('triton-inspect', { location: 'model.onnx_data', alignment: 1 });
  });

  it('triton on the FP32 model: 1/ holds model.onnx and model.onnx_data, as onnxruntime\'s backend loads them', async () => {
    const recipe = join(work, 'triton-recipe.yaml');
    writeFileSync(recipe, `version: 1\nname: ext-triton\nmodel: ${dir}\nsteps:\n  - { id: load, uses: hf.load }\n  - { id: triton, uses: triton, with: { textEnsemble: false } }\n`);
    const cache = join(work, 'triton-cache');
    const r = await qrun([recipe, '--cache', cache]);
    expect(r.exitCode, r.stderr).toBe(0);
    const repo = join(cache, 'cache', step(latestReport(cache).report, 'triton').outputs.repository!.path);
    const version = join(repo, readdirSync(repo).find((d) => statSync(join(repo, d)).isDirectory())!, '1');
    expect(readdirSync(version).sort()).toEqual(['model.onnx', 'model.onnx_data']);
    expect(readFileSync(join(version, 'model.onnx_data')).equals(readFileSync(join(dir, 'onnx', 'model.onnx_data')))).toBe(true);

    // The data file is part of the cache entry: one that goes missing makes the entry damaged, and
    // the step runs again (it is not served, and the run does not stop on the missing file).
    const loaded = join(cache, 'cache', step(latestReport(cache).report, 'load').outputs.model!.path);
    truncateSync(join(dirname(loaded), 'model.onnx_data'), 1000);
    const again = await qrun([recipe, '--cache', cache]);
    expect(again.exitCode, again.stderr).toBe(0);
    const load = step(latestReport(cache).report, 'load');
    expect(load.status).toBe('ran');
    expect(load.cacheNote).toMatch(/damaged .*model\.onnx_data.*rebuilt/);
    expect(step(latestReport(cache).report, 'triton').status).toBe('hit');
  }, 300_000);

  it('qrun inspect reads it as it reads the single-file model', async () => {
    const [ext, single] = [await qrun(['inspect', dir]), await qrun(['inspect', BERT_ONNX])];
    expect(ext.exitCode, ext.stderr).toBe(0);
    expect(ext.stdout.replaceAll(join(dir, 'onnx', 'model.onnx'), 'MODEL')).toBe(single.stdout.replaceAll(BERT_ONNX, 'MODEL'));
  }, 120_000);

  it('a step whose model output names data it did not write fails there, naming the tensor and the file', async () => {
    // A command step copies only the .onnx: its output names model.onnx_data, which is not beside it.
    const recipe = join(work, 'forgets-data.yaml');
    writeFileSync(
      recipe,
      `version: 1\nname: forgets-data\nmodel: ${dir}\nsteps:\n  - { id: load, uses: hf.load }\n  - id: copy\n    uses: command\n    with:\n      run: [cp, '{inputs.model}', '{outputs.model}']\n      inputs: { model: onnx-model }\n      outputs: { model: { path: model.onnx, kind: onnx-model } }\n  - { id: qdq, uses: qdq.insert }\n`,
    );
    const r = await qrun([recipe, '--cache', join(work, 'forgets-cache')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/EXTERNAL_DATA_MISSING/);
    expect(r.stderr).toMatch(/copy/);
    expect(r.stderr).toContain('tensor "m.bert.embeddings.word_embeddings.weight" has its data in "model.onnx_data", which does not exist');
  }, 300_000);
});

describe('a data file missing, truncated or outside the model folder: a clear error at the first step, and in inspect', () => {
  const FIRST = 'm.bert.embeddings.word_embeddings.weight';
  /** A copy of the model.onnx_data folder, changed by `edit` (given its onnx/ folder). */
  async function broken(name: string, edit: (onnx: string) => void): Promise<string> {
    const dir = await modelFolder(name, { location: 'model.onnx_data', alignment: 1 });
    edit(join(dir, 'onnx'));
    return dir;
  }
  /** Rewrites the location every external tensor names. */
  const relocate = (onnx: string, location: string) => {
    const m = decodeModel(readFileSync(join(onnx, 'model.onnx')));
    for (const t of m.graph.initializer) if (t.externalData?.length) t.externalData[0]!.value = location;
    writeFileSync(join(onnx, 'model.onnx'), encodeModel(m));
  };
  const secret = () => {
    const file = join(work, 'elsewhere', 'model.onnx_data');
    mkdirSync(dirname(file), { recursive: true });
    copyFileSync(join(work, 'models', 'model.onnx_data', 'onnx', 'model.onnx_data'), file);
    return file;
  };
  const cases: [string, (onnx: string) => void, RegExp][] = [
    ['missing', (onnx) => renameSync(join(onnx, 'model.onnx_data'), join(onnx, '..', 'moved')), new RegExp(`EXTERNAL_DATA_MISSING.*tensor "${FIRST}" has its data in "model.onnx_data", which does not exist`)],
    ['truncated', (onnx) => truncateSync(join(onnx, 'model.onnx_data'), statSync(join(onnx, 'model.onnx_data')).size - 1000), /EXTERNAL_DATA_TRUNCATED.*tensor "[^"]+" needs bytes \d+–\d+ of "model.onnx_data", which has only \d+ bytes/],
    ['`..`', (onnx) => (renameSync(join(onnx, 'model.onnx_data'), join(onnx, '..', 'model.onnx_data')), relocate(onnx, '../model.onnx_data')), new RegExp(`EXTERNAL_DATA_OUTSIDE.*tensor "${FIRST}" has its data at "../model.onnx_data", which leaves the model's folder`)],
    ['an absolute path', (onnx) => relocate(onnx, secret()), new RegExp(`EXTERNAL_DATA_OUTSIDE.*tensor "${FIRST}" has its data at "/[^"]+", an absolute path`)],
    ['a symbolic link out of the folder', (onnx) => (renameSync(join(onnx, 'model.onnx_data'), join(onnx, '..', 'gone')), symlinkSync(secret(), join(onnx, 'model.onnx_data'))), new RegExp(`EXTERNAL_DATA_OUTSIDE.*tensor "${FIRST}" has its data at "model.onnx_data", a symbolic link to .*elsewhere/model.onnx_data, outside the model's folder`)],
  ];
  for (const [k, [what, edit, message]] of cases.entries()) {
    it(`${what}: hf.load fails naming the tensor and the file; qdq never runs; inspect says the same`, async () => {
      const dir = await broken(`broken-${k}`, edit);
      const recipe = join(work, `broken-${k}.yaml`);
      writeFileSync(recipe, `version: 1\nname: broken\nmodel: ${dir}\nsteps:\n  - { id: load, uses: hf.load }\n  - { id: qdq, uses: qdq.insert }\n`);
      const cache = join(work, `broken-${k}-cache`);
      const r = await qrun([recipe, '--cache', cache]);
      expect(r.exitCode).toBe(1);
      const oneLine = r.stderr.replace(/\n\s*/g, ' ');
      expect(oneLine).toMatch(message);
      expect(oneLine).toContain(join(dir, 'onnx', 'model.onnx'));
      expect(oneLine).toMatch(/hint: /);
      expect(step(latestReport(cache).report, 'load').status).toBe('failed');
      const inspect = await qrun(['inspect', dir]);
      expect(inspect.exitCode).not.toBe(0);
      expect(inspect.stderr.replace(/\n\s*/g, ' ')).toMatch(message);
    }, 300_000);
  }
});
