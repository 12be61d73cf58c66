import { copyFile, mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Artifact, StepContext, StepEvent } from '../../src/engine/plugin.ts';
import { QrunError } from '../../src/errors.ts';
import { DataType } from '../../src/onnx/types.ts';
import { BERT_DIR } from '../../tests/helpers/bert-langid.ts';
import { tensorInfo, writeTinyClassifier } from '../trtexec/testing/tiny-onnx.ts';
import plugin, { defaultModelName } from './index.ts';
import { parseModelConfigText } from './model-config-schema.ts';
import { withDefaults, type TritonOptions } from './options.ts';

let root: string;
let modelPath: string;
let events: StepEvent[];

async function run(options: Partial<TritonOptions>, name: string, engine?: Artifact, hfDir?: string) {
  const ctx: StepContext = {
    stepId: 'serve',
    outDir: join(root, name),
    recipeDir: root,
    tmpDir: join(root, `${name}-tmp`),
    signal: new AbortController().signal,
    emit: (e) => events.push(e),
    artifactOf: () => undefined,
  };
  await mkdir(ctx.outDir, { recursive: true });
  const model: Artifact = { kind: 'qdq-model', path: modelPath, sha256: 'test', size: 0 };
  const inputs: Record<string, Artifact> = { model };
  if (engine) inputs.engine = engine;
  if (hfDir) inputs.hf = { kind: 'hf-model', path: hfDir, sha256: 'test', size: 0 };
  const result = await plugin.run(withDefaults(options), inputs, {}, ctx);
  return { outDir: ctx.outDir, result: result ?? {} };
}

/** Every file under `dir` with its bytes, by relative path. */
async function tree(dir: string): Promise<Record<string, string>> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files: Record<string, string> = {};
  for (const e of entries.filter((x) => x.isFile()).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(e.parentPath, e.name);
    files[relative(dir, path)] = (await readFile(path)).toString('base64');
  }
  return files;
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'qrun-triton-'));
  modelPath = await writeTinyClassifier(root, {}, 'model.onnx');
  events = [];
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('triton plugin', () => {
  it('writes an onnxruntime model folder whose config matches what onnxruntime sees in the model', async () => {
    const { outDir, result } = await run({}, 'a');
    expect(Object.keys(await tree(join(outDir, 'repository'))).sort()).toEqual(['model/1/model.onnx', 'model/config.pbtxt']);
    expect(await readFile(join(outDir, 'repository/model/1/model.onnx'))).toEqual(await readFile(modelPath));

    const config = parseModelConfigText(await readFile(join(outDir, 'repository/model/config.pbtxt'), 'utf8'));
    const session = await ort.InferenceSession.create(join(outDir, 'repository/model/1/model.onnx'));
    expect((config.input as { name: string }[]).map((i) => i.name)).toEqual(session.inputNames);
    expect((config.output as { name: string }[]).map((o) => o.name)).toEqual(session.outputNames);
    expect(config).toMatchObject({
      name: 'model',
      backend: 'onnxruntime',
      max_batch_size: 8,
      input: [
        { data_type: 'TYPE_INT64', dims: [-1] },
        { data_type: 'TYPE_INT64', dims: [-1] },
      ],
      output: [{ data_type: 'TYPE_FP32', dims: [2] }],
    });
    // And the model really takes [batch, sequence] int64 and gives [batch, 2]: Triton's full shapes.
    const ids = new ort.Tensor('int64', BigInt64Array.from([1n, 2n, 3n, 4n, 5n, 6n]), [3, 2]);
    const out = await session.run({ input_ids: ids, attention_mask: new ort.Tensor('int64', BigInt64Array.from([1n, 1n, 1n, 1n, 1n, 0n]), [3, 2]) });
    expect(out.logits!.dims).toEqual([3, 2]);
    expect(out.logits!.type).toBe('float32');

    expect(result.metrics).toEqual({
      models: ['model'],
      configs: ['repository/model/config.pbtxt'],
      maxBatchSize: 8,
      textModel: null,
      noTextModel: 'no hf-model input with tokenizer.json',
    });
  });

  it('adds a tensorrt_plan model with the engine when one was built', async () => {
    const enginePath = join(root, 'model.plan');
    await writeFile(enginePath, 'serialized engine bytes');
    const engine: Artifact = { kind: 'engine', path: enginePath, sha256: 'e', size: 23 };
    const { outDir, result } = await run({ name: 'langid' }, 'b', engine);
    expect(Object.keys(await tree(join(outDir, 'repository'))).sort()).toEqual([
      'langid/1/model.onnx',
      'langid/config.pbtxt',
      'langid_trt/1/model.plan',
      'langid_trt/config.pbtxt',
    ]);
    expect(await readFile(join(outDir, 'repository/langid_trt/1/model.plan'), 'utf8')).toBe('serialized engine bytes');
    const trt = parseModelConfigText(await readFile(join(outDir, 'repository/langid_trt/config.pbtxt'), 'utf8'));
    expect(trt).toMatchObject({ name: 'langid_trt', platform: 'tensorrt_plan', max_batch_size: 8, instance_group: [{ count: 1, kind: 'KIND_GPU' }] });
    expect(trt.input).toEqual([
      { name: 'input_ids', data_type: 'TYPE_INT64', dims: [-1] },
      { name: 'attention_mask', data_type: 'TYPE_INT64', dims: [-1] },
    ]);
    expect(result.metrics?.models).toEqual(['langid', 'langid_trt']);
    expect(result.metrics?.configs).toEqual(['repository/langid/config.pbtxt', 'repository/langid_trt/config.pbtxt']);
  });

  it('gives byte-identical repositories for the same inputs', async () => {
    const options = { dynamicBatching: { preferredBatchSize: [8, 2], maxQueueDelayMicroseconds: 10 }, tensorrtAccelerator: { precisionMode: 'INT8' as const } };
    const first = await tree((await run(options, 'one')).outDir);
    const second = await tree((await run(options, 'two')).outDir);
    expect(Object.keys(first).length).toBe(2);
    expect(second).toEqual(first);
  });

  it('copies external data files beside model.onnx', async () => {
    const { tinyClassifier } = await import('../trtexec/testing/tiny-onnx.ts');
    const { encodeModel } = await import('../../src/onnx/model-io.ts');
    const model = tinyClassifier();
    const weight = model.graph.initializer[0]!;
    weight.rawData = undefined;
    weight.dataLocation = 1;
    weight.externalData = [
      { key: 'location', value: 'weights/classifier.bin' },
      { key: 'length', value: '8' },
    ];
    await mkdir(join(root, 'ext/weights'), { recursive: true });
    modelPath = join(root, 'ext/model.onnx');
    await writeFile(modelPath, encodeModel(model));
    await writeFile(join(root, 'ext/weights/classifier.bin'), Buffer.from(new Float32Array([0.5, -0.25]).buffer));
    const { outDir } = await run({}, 'ext-out');
    expect(Object.keys(await tree(join(outDir, 'repository'))).sort()).toEqual(['model/1/model.onnx', 'model/1/weights/classifier.bin', 'model/config.pbtxt']);
    const session = await ort.InferenceSession.create(join(outDir, 'repository/model/1/model.onnx'));
    expect(session.outputNames).toEqual(['logits']);
  });

  it('says why it writes no dynamic_batching with max_batch_size 0', async () => {
    const { outDir } = await run({ maxBatchSize: 0 }, 'c');
    const config = parseModelConfigText(await readFile(join(outDir, 'repository/model/config.pbtxt'), 'utf8'));
    expect(config.dynamic_batching).toBeUndefined();
    expect(config.max_batch_size).toBe(0);
    expect(events).toContainEqual(expect.objectContaining({ type: 'log', message: expect.stringContaining('maxBatchSize is 0') }));
  });
});

describe('defaultModelName', () => {
  it('derives a valid Triton model name from the file name', () => {
    expect(defaultModelName('/store/ab12/model.onnx')).toBe('model');
    expect(defaultModelName('/x/bert-langid.int8.onnx')).toBe('bert-langid.int8');
    expect(defaultModelName('/x/my model (1).onnx')).toBe('my_model__1_');
    expect(defaultModelName('/x/.onnx')).toBe('model');
  });
});

describe('triton plugin with the model\'s hf folder', () => {
  /** An hf-model folder: the shipped BERT's tokenizer, and a config with two classes for the tiny classifier. */
  async function hfFolder(config: Record<string, unknown> = { id2label: { 0: 'negative', 1: 'positive' }, max_position_embeddings: 64 }): Promise<string> {
    const dir = join(root, `hf-${Math.random().toString(36).slice(2)}`);
    await mkdir(dir);
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    await copyFile(join(BERT_DIR, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    await copyFile(join(BERT_DIR, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
    return dir;
  }
  const config = async (outDir: string, model: string) => parseModelConfigText(await readFile(join(outDir, 'repository', model, 'config.pbtxt'), 'utf8'));

  it('adds labels, a Python-backend tokenizer whose outputs are the model inputs, and an ensemble from TEXT to the logits', async () => {
    const { outDir, result } = await run({ name: 'clf', instanceGroup: { count: 2, kind: 'KIND_CPU' } }, 'text', undefined, await hfFolder());
    expect(Object.keys(await tree(join(outDir, 'repository'))).sort()).toEqual([
      'clf/1/model.onnx',
      'clf/config.pbtxt',
      'clf/labels.txt',
      'clf_ensemble/config.pbtxt',
      'clf_ensemble/labels.txt',
      'clf_tokenizer/1/model.py',
      'clf_tokenizer/1/tokenizer.json',
      'clf_tokenizer/config.pbtxt',
    ]);
    // Triton wants a version folder for an ensemble too, even an empty one.
    expect(await readdir(join(outDir, 'repository/clf_ensemble/1'))).toEqual([]);
    expect(await readFile(join(outDir, 'repository/clf/labels.txt'), 'utf8')).toBe('negative\npositive\n');
    expect(await readFile(join(outDir, 'repository/clf_tokenizer/1/model.py'), 'utf8')).toContain('class TritonPythonModel');
    expect(result.metrics).toMatchObject({ models: ['clf', 'clf_tokenizer', 'clf_ensemble'], textModel: 'clf_ensemble' });

    expect((await config(outDir, 'clf')).output).toEqual([{ name: 'logits', data_type: 'TYPE_FP32', dims: [2], label_filename: 'labels.txt' }]);
    expect(await config(outDir, 'clf_tokenizer')).toEqual({
      name: 'clf_tokenizer',
      backend: 'python',
      max_batch_size: 8,
      input: [{ name: 'TEXT', data_type: 'TYPE_STRING', dims: [1] }],
      output: [
        { name: 'input_ids', data_type: 'TYPE_INT64', dims: [-1] },
        { name: 'attention_mask', data_type: 'TYPE_INT64', dims: [-1] },
      ],
      instance_group: [{ count: 2, kind: 'KIND_CPU' }],
      // bert-langid's tokenizer says 128; the config's 64 positions cap it.
      parameters: { max_length: { string_value: '64' }, pad_id: { string_value: '0' } },
    });
    expect(await config(outDir, 'clf_ensemble')).toEqual({
      name: 'clf_ensemble',
      platform: 'ensemble',
      max_batch_size: 8,
      input: [{ name: 'TEXT', data_type: 'TYPE_STRING', dims: [1] }],
      output: [{ name: 'logits', data_type: 'TYPE_FP32', dims: [2], label_filename: 'labels.txt' }],
      ensemble_scheduling: {
        step: [
          { model_name: 'clf_tokenizer', model_version: -1, input_map: { TEXT: 'TEXT' }, output_map: { input_ids: 'input_ids', attention_mask: 'attention_mask' } },
          { model_name: 'clf', model_version: -1, input_map: { input_ids: 'input_ids', attention_mask: 'attention_mask' }, output_map: { logits: 'logits' } },
        ],
      },
    });
  });

  it('gives the engine its own ensemble, and full shapes everywhere with max_batch_size 0', async () => {
    const enginePath = join(root, 'model.plan');
    await writeFile(enginePath, 'engine');
    const { outDir, result } = await run({ name: 'clf', maxBatchSize: 0 }, 'mbs0', { kind: 'engine', path: enginePath, sha256: 'e', size: 6 }, await hfFolder());
    expect(result.metrics?.models).toEqual(['clf', 'clf_trt', 'clf_tokenizer', 'clf_ensemble', 'clf_trt_ensemble']);
    expect((await config(outDir, 'clf_tokenizer')).input).toEqual([{ name: 'TEXT', data_type: 'TYPE_STRING', dims: [-1] }]);
    expect((await config(outDir, 'clf_tokenizer')).output).toEqual([
      { name: 'input_ids', data_type: 'TYPE_INT64', dims: [-1, -1] },
      { name: 'attention_mask', data_type: 'TYPE_INT64', dims: [-1, -1] },
    ]);
    const trtEnsemble = await config(outDir, 'clf_trt_ensemble');
    expect((trtEnsemble.ensemble_scheduling as { step: { model_name: string }[] }).step.map((s) => s.model_name)).toEqual(['clf_tokenizer', 'clf_trt']);
    expect(trtEnsemble.output).toEqual([{ name: 'logits', data_type: 'TYPE_FP32', dims: [-1, 2], label_filename: 'labels.txt' }]);
  });

  it('makes no ensemble, and says why, for a model the tokenizer cannot feed or without a tokenizer', async () => {
    modelPath = await writeTinyClassifier(root, { extraInputs: [tensorInfo('pixel_values', DataType.FLOAT, ['batch', 3])] }, 'vision.onnx');
    const { outDir, result } = await run({}, 'vision', undefined, await hfFolder());
    expect(result.metrics).toMatchObject({ models: ['vision'], textModel: null, noTextModel: 'the tokenizer cannot fill the model input "pixel_values"' });
    expect(events).toContainEqual({ type: 'log', level: 'info', message: 'no text ensemble: the tokenizer cannot fill the model input "pixel_values"' });
    expect(await readdir(join(outDir, 'repository'))).toEqual(['vision']);
    // Labels still apply; an id2label of another size attaches none.
    expect(await readFile(join(outDir, 'repository/vision/labels.txt'), 'utf8')).toBe('negative\npositive\n');
    const three = await run({}, 'three', undefined, await hfFolder({ id2label: { 0: 'a', 1: 'b', 2: 'c' } }));
    expect((await readdir(join(three.outDir, 'repository/vision'))).sort()).toEqual(['1', 'config.pbtxt']);
    const off = await run({ textEnsemble: false }, 'off', undefined, await hfFolder());
    expect(off.result.metrics).toMatchObject({ textModel: null, noTextModel: 'textEnsemble: false' });
  });

  it('refuses, before writing anything, an engine whose profile is smaller than max_batch_size', async () => {
    const engineDir = join(root, 'engine-out');
    await mkdir(engineDir);
    await writeFile(join(engineDir, 'model.plan'), 'engine');
    const profile = (maxBatch: number) => ({ min: [1, 1], opt: [4, 64], max: [maxBatch, 128] });
    await writeFile(join(engineDir, 'engine.json'), JSON.stringify({ profiles: { input_ids: profile(4), attention_mask: profile(4) } }));
    const engine: Artifact = { kind: 'engine', path: join(engineDir, 'model.plan'), sha256: 'e', size: 6 };
    const err = (await run({ maxBatchSize: 16 }, 'small-engine', engine).catch((e: unknown) => e)) as QrunError;
    expect(err).toBeInstanceOf(QrunError);
    expect(err.diagnostics.map((d) => d.code)).toEqual(['TRITON_ENGINE_PROFILE', 'TRITON_ENGINE_PROFILE']);
    expect(err.message).toContain('"model_trt": max_batch_size is 16, but the engine\'s profile for "input_ids" takes batches 1…4');
    expect(err.diagnostics[0]!.hint).toContain('lower the triton step\'s maxBatchSize to 4');
    expect(await readdir(join(root, 'small-engine'))).toEqual([]);
    // A profile that covers it passes.
    expect((await run({ maxBatchSize: 4 }, 'fits', engine)).result.metrics?.models).toEqual(['model', 'model_trt']);
  });

  it('writes the onnxruntime backend options', async () => {
    const options = { onnxruntime: { graphOptimization: 'extended' as const, intraOpThreads: 4, executionMode: 'parallel' as const, interOpThreads: 2, memArena: false } };
    const { outDir } = await run(options, 'ort');
    const text = await readFile(join(outDir, 'repository/model/config.pbtxt'), 'utf8');
    expect(text).toContain('optimization {\n  graph {\n    level: 1\n  }\n}\n');
    expect(text).toContain('parameters {\n  key: "intra_op_thread_count"\n  value {\n    string_value: "4"\n  }\n}\n');
    expect(parseModelConfigText(text).parameters).toEqual({
      enable_mem_arena: { string_value: '0' },
      execution_mode: { string_value: '1' },
      inter_op_thread_count: { string_value: '2' },
      intra_op_thread_count: { string_value: '4' },
    });
  });
});
