import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Artifact, StepContext, StepEvent } from '../../src/engine/plugin.ts';
import { writeTinyClassifier } from '../trtexec/testing/tiny-onnx.ts';
import plugin, { defaultModelName } from './index.ts';
import { parseModelConfigText } from './model-config-schema.ts';
import { withDefaults, type TritonOptions } from './options.ts';

let root: string;
let modelPath: string;
let events: StepEvent[];

async function run(options: Partial<TritonOptions>, name: string, engine?: Artifact) {
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
  const result = await plugin.run(withDefaults(options), engine ? { model, engine } : { model }, {}, ctx);
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

    expect(result.metrics).toEqual({ models: ['model'], configs: ['repository/model/config.pbtxt'], maxBatchSize: 8 });
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
