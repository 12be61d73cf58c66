// onnx.export as the engine runs it: checkpoint and random weights, deterministic bytes, and the
// errors a user meets with a damaged or mismatched checkpoint.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../../tests/helpers/temp.ts';
import type { StepContext } from '../../src/engine/plugin.ts';
import { readModelWithData } from '../../src/runtime/model-file.ts';
import { encoderFeeds, graphInputs } from '../../src/runtime/feeds.ts';
import { createSession } from '../../src/runtime/session.ts';
import { Checkpoint } from '../../src/safetensors/index.ts';
import { encodeSafetensors, f32, type TensorBytes } from '../../src/safetensors/safetensors-writer.ts';
import onnxExport from './index.ts';
import type { OnnxExportOptions } from './options.ts';

const MODEL_DIR = fileURLToPath(new URL('../../models/bert-langid', import.meta.url));
const tmp = useTempDir();
let runs = 0;

function context(): StepContext {
  const outDir = join(tmp, `out-${runs++}`);
  mkdirSync(outDir);
  return { stepId: 'export', outDir, recipeDir: tmp, tmpDir: tmp, signal: new AbortController().signal, emit: () => {}, artifactOf: () => undefined };
}

async function runExport(options: Partial<OnnxExportOptions>, sources: Record<string, string>): Promise<{ file: string; metrics: Record<string, unknown> }> {
  const ctx = context();
  const result = await onnxExport.run({ weights: 'checkpoint', seed: 0, ...options }, {}, sources, ctx);
  return { file: join(ctx.outDir, 'model.onnx'), metrics: result?.metrics ?? {} };
}

async function errorOf(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  return p.then(
    () => ({ message: 'no error' }),
    (e: { code?: string; message: string }) => e,
  );
}

/** A copy of the shipped model directory whose checkpoint is `bytes`. */
function modelDirWith(name: string, bytes: Uint8Array): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  copyFileSync(join(MODEL_DIR, 'config.json'), join(dir, 'config.json'));
  writeFileSync(join(dir, 'model.safetensors'), bytes);
  return dir;
}

// A small BERT-shaped config: random weights need nothing else.
const SMALL_CONFIG = {
  model_type: 'bert',
  architectures: ['BertForSequenceClassification'],
  vocab_size: 300,
  hidden_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 128,
  max_position_embeddings: 64,
  id2label: { 0: 'a', 1: 'b', 2: 'c' },
};

describe('onnx.export plugin', () => {
  it('exports the shipped checkpoint to model.onnx with its metrics', async () => {
    const { file, metrics } = await runExport({}, { model: MODEL_DIR });
    expect(existsSync(file)).toBe(true);
    expect(metrics).toMatchObject({ modelType: 'bert', family: 'bert', task: 'sequence-classification', weights: 'checkpoint', layers: 4, parameters: 1_339_657, outputs: ['logits'] });
  });

  it('sources: the recipe model by default; only the config file for random weights from `config`', () => {
    const recipe = { file: join(tmp, 'r.yaml'), dir: tmp, model: { path: MODEL_DIR }, data: {} };
    expect(onnxExport.sources!({ weights: 'checkpoint', seed: 0 }, recipe)).toEqual({ model: { path: MODEL_DIR } });
    expect(onnxExport.sources!({ weights: 'random', seed: 0, config: 'c.json' }, recipe)).toEqual({ config: { path: join(tmp, 'c.json') } });
    expect(() => onnxExport.sources!({ weights: 'checkpoint', seed: 0 }, { ...recipe, model: undefined })).toThrow(/needs a model/);
  });

  it('weights: random builds a model that runs, byte-identical across builds, different for another seed', async () => {
    const config = join(tmp, 'small-config.json');
    writeFileSync(config, JSON.stringify(SMALL_CONFIG));
    const a = await runExport({ weights: 'random', seed: 7 }, { config });
    const b = await runExport({ weights: 'random', seed: 7 }, { config });
    const c = await runExport({ weights: 'random', seed: 8 }, { config });
    expect(readFileSync(a.file).equals(readFileSync(b.file))).toBe(true);
    expect(readFileSync(a.file).equals(readFileSync(c.file))).toBe(false);
    expect(a.metrics).toMatchObject({ weights: 'random (seed 7)', layers: 2, hidden: 64 });

    const model = await readModelWithData(a.file);
    const session = await createSession(a.file, { intraOpThreads: 1 });
    const feeds = encoderFeeds(graphInputs(model.graph.input, new Set()), [[1, 5, 9, 2], [1, 7, 2]], 0);
    const logits = (await session.run(feeds)).logits as ort.Tensor;
    await session.release();
    expect(logits.dims).toEqual([2, 3]);
    expect(Array.from(logits.data as Float32Array).every(Number.isFinite)).toBe(true);
    // LayerNorm weight 1 / bias 0 and normal(0, 0.02) weights: small but not all-equal logits.
    expect(new Set(logits.data as Float32Array).size).toBeGreaterThan(1);
  });

  it('names the missing tensor when the checkpoint lacks one', async () => {
    const checkpoint = await Checkpoint.open(MODEL_DIR);
    const tensors: Record<string, TensorBytes> = {};
    for (const name of checkpoint.names()) {
      if (name === 'bert.encoder.layer.2.attention.self.key.weight') continue;
      tensors[name] = f32(checkpoint.info(name)!.shape, await checkpoint.readFloat32(name));
    }
    await checkpoint.close();
    const dir = modelDirWith('missing-tensor', encodeSafetensors(tensors));
    const error = await errorOf(runExport({}, { model: dir }));
    expect(error.code).toBe('CHECKPOINT_TENSOR_MISSING');
    expect(error.message).toContain('"bert.encoder.layer.2.attention.self.key.weight"');
    expect(error.message).toContain(join(dir, 'model.safetensors'));
  });

  it('names the file when the checkpoint is truncated', async () => {
    const whole = readFileSync(join(MODEL_DIR, 'model.safetensors'));
    const dir = modelDirWith('truncated', whole.subarray(0, Math.floor(whole.length / 2)));
    const error = await errorOf(runExport({}, { model: dir }));
    expect(error.code).toBe('SAFETENSORS_CORRUPT');
    expect(error.message).toContain(join(dir, 'model.safetensors'));
    expect(error.message).toMatch(/past the end of the data .*truncated/);
  });

  it('refuses a shape that config.json does not imply, and a model type it cannot build', async () => {
    const config = join(tmp, 'wide-config.json');
    writeFileSync(config, JSON.stringify({ ...JSON.parse(readFileSync(join(MODEL_DIR, 'config.json'), 'utf8')), hidden_size: 256 }));
    const mismatch = await errorOf(runExport({}, { model: MODEL_DIR, config }));
    expect(mismatch.code).toBe('CHECKPOINT_SHAPE_MISMATCH');
    expect(mismatch.message).toContain('bert.embeddings.word_embeddings.weight');

    // (gpt2 was the example until decoders got their exporter: plugins/onnx-export/decoder.test.ts.)
    const t5 = join(tmp, 't5-config.json');
    writeFileSync(t5, JSON.stringify({ model_type: 't5' }));
    const unsupported = await errorOf(runExport({ weights: 'random' }, { config: t5 }));
    expect(unsupported.code).toBe('EXPORT_CONFIG_INVALID');
    expect(unsupported.message).toContain('model_type "t5" has no native exporter');
  });
});
