// onnx.export on causal LMs: a text-generation model with its KV cache from random weights or a
// checkpoint (half precision, names as GPT2Model saves them), and config.json options the graph does
// not implement refused with the file and the key, before anything is built.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../../tests/helpers/temp.ts';
import type { StepContext } from '../../src/engine/plugin.ts';
import { readModelWithData } from '../../src/runtime/model-file.ts';
import { createSession } from '../../src/runtime/session.ts';
import { encodeSafetensors, type TensorBytes } from '../../src/safetensors/safetensors-writer.ts';
import { parseDecoderConfig } from '../../src/export/decoder/decoder-config.ts';
import { emptyCache, logitsAt, maxAbsDiff, step } from '../../src/export/decoder/testing.ts';
import { seededNormal } from '../../src/export/seeded-normal.ts';
import onnxExport from './index.ts';
import type { OnnxExportOptions } from './options.ts';

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

const errorOf = (p: Promise<unknown>) => p.then(() => ({ code: 'none', message: 'no error' }), (e: { code: string; message: string }) => e);

const GPT2 = { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: 61, n_embd: 16, n_layer: 2, n_head: 2, n_positions: 32 };

function writeConfig(name: string, config: Record<string, unknown>): string {
  const file = join(tmp, `${name}.json`);
  writeFileSync(file, JSON.stringify(config));
  return file;
}

/** float32 → IEEE binary16 bits for values exactly representable in it (the test's weights are). */
function toHalfBits(v: number): number {
  if (v === 0) return Object.is(v, -0) ? 0x8000 : 0;
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  const exp = Math.floor(Math.log2(a));
  if (exp < -14) return sign | Math.round(a / 2 ** -24); // subnormal
  return sign | ((exp + 15) << 10) | Math.round((a / 2 ** exp - 1) * 1024);
}

/** A tensor of values on the float16 grid (k/1024): the same numbers in F16 and after widening. */
function halfTensor(name: string, shape: number[]): { f16: TensorBytes; values: Float32Array } {
  const count = shape.reduce((a, b) => a * b, 1);
  const values = seededNormal(3, name, count, 0.3).map((v) => Math.round(v * 1024) / 1024);
  const bits = Uint16Array.from(values, toHalfBits);
  return { f16: { dtype: 'F16', shape, data: new Uint8Array(bits.buffer) }, values };
}

describe('onnx.export of decoders (text-generation)', () => {
  it('weights: random on a GPT-2 config → model.onnx with the KV cache layout, task text-generation, opset 21', async () => {
    const { file, metrics } = await runExport({ weights: 'random', seed: 5 }, { config: writeConfig('gpt2', GPT2) });
    expect(metrics).toMatchObject({
      modelType: 'gpt2', family: 'gpt2', task: 'text-generation', taskFrom: 'config.json (GPT2LMHeadModel)', weights: 'random (seed 5)', layers: 2, hidden: 16, heads: 2, opset: 21,
      inputs: ['input_ids', 'attention_mask', 'position_ids', 'past_key_values.0.key', 'past_key_values.0.value', 'past_key_values.1.key', 'past_key_values.1.value'],
      outputs: ['logits', 'present.0.key', 'present.0.value', 'present.1.key', 'present.1.value'],
    });
    const again = await runExport({ weights: 'random', seed: 5 }, { config: writeConfig('gpt2', GPT2) });
    expect(readFileSync(again.file).equals(readFileSync(file))).toBe(true);
  });

  it('reads a float16 checkpoint saved from GPT2Model (no `transformer.` prefix, no lm_head: tied): the float16 values widened exactly under the HF names, the LM head = wteᵀ, and it runs', async () => {
    const h = 16;
    const shapes: Record<string, number[]> = { 'wte.weight': [61, h], 'wpe.weight': [32, h], 'ln_f.weight': [h], 'ln_f.bias': [h] };
    for (let i = 0; i < 2; i++) {
      Object.assign(shapes, {
        [`h.${i}.ln_1.weight`]: [h], [`h.${i}.ln_1.bias`]: [h], [`h.${i}.ln_2.weight`]: [h], [`h.${i}.ln_2.bias`]: [h],
        [`h.${i}.attn.c_attn.weight`]: [h, 3 * h], [`h.${i}.attn.c_attn.bias`]: [3 * h], [`h.${i}.attn.c_proj.weight`]: [h, h], [`h.${i}.attn.c_proj.bias`]: [h],
        [`h.${i}.mlp.c_fc.weight`]: [h, 4 * h], [`h.${i}.mlp.c_fc.bias`]: [4 * h], [`h.${i}.mlp.c_proj.weight`]: [4 * h, h], [`h.${i}.mlp.c_proj.bias`]: [h],
      });
    }
    const tensors: Record<string, TensorBytes> = {};
    const values: Record<string, Float32Array> = {};
    for (const [name, shape] of Object.entries(shapes)) ({ f16: tensors[name]!, values: values[name]! } = halfTensor(name, shape));
    const dir = join(tmp, 'gpt2-f16');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(GPT2));
    writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tensors));
    const { file, metrics } = await runExport({}, { model: dir });
    expect(metrics).toMatchObject({ task: 'text-generation', weights: 'checkpoint', parameters: Object.values(values).reduce((n, v) => n + v.length, 0) + 61 * h });

    // The graph keeps the HF names, with the float16 values exactly (widened), and the LM head = wteᵀ.
    const model = await readModelWithData(file);
    const init = (name: string) => model.graph.initializer.find((t) => t.name === name)!;
    const raw = (name: string) => new Float32Array(Uint8Array.from(init(name).rawData!).buffer);
    expect(Array.from(raw('transformer.h.1.mlp.c_fc.weight'))).toEqual(Array.from(values['h.1.mlp.c_fc.weight']!));
    const head = raw('lm_head.weight');
    expect(head[3 * 61 + 7]).toBe(values['wte.weight']![7 * h + 3]); // [h, vocab][3][7] = wte[7][3]

    const cfg = parseDecoderConfig(GPT2, 'config.json');
    const session = await createSession(file, { intraOpThreads: 1 });
    const out = await step(session, cfg, [[5, 9, 2]], [[1, 1, 1]], [[0, 1, 2]], emptyCache(cfg, 1));
    await session.release();
    expect(Array.from(logitsAt(out, 0, 2)).every(Number.isFinite)).toBe(true);
    expect(maxAbsDiff(logitsAt(out, 0, 1), logitsAt(out, 0, 2))).toBeGreaterThan(1e-3);
  });

  it.each([
    ['gpt2', { ...GPT2, scale_attn_by_inverse_layer_idx: true }, '"scale_attn_by_inverse_layer_idx" is true'],
    ['gpt2', { ...GPT2, add_cross_attention: true }, '"add_cross_attention" is true'],
    ['gpt2', { ...GPT2, activation_function: 'quick_gelu' }, '"activation_function" is "quick_gelu"'],
    ['llama', { model_type: 'llama', rope_scaling: { rope_type: 'dynamic', factor: 8 } }, '"rope_scaling.rope_type" is "dynamic"'],
    ['llama', { model_type: 'llama', rope_parameters: { rope_type: 'yarn', rope_theta: 1e6 } }, '"rope_parameters.rope_type" is "yarn"'],
    ['llama', { model_type: 'llama', rope_scaling: { type: 'longrope', factor: 2 } }, '"rope_scaling.rope_type" is "longrope"'],
    ['llama', { model_type: 'llama', num_attention_heads: 6, num_key_value_heads: 4 }, '"num_key_value_heads" is 4'],
    ['qwen2', { model_type: 'qwen2', use_sliding_window: true }, '"use_sliding_window" is true'],
  ])('refuses %s config %j: EXPORT_CONFIG_UNSUPPORTED naming config.json and the key', async (_family, config, says) => {
    const file = writeConfig('unsupported', config);
    const error = await errorOf(runExport({ weights: 'random' }, { config: file }));
    expect(error.code).toBe('EXPORT_CONFIG_UNSUPPORTED');
    expect(error.message).toContain(`${file}: ${says}`);
  });

  it('refuses text-generation for an encoder config, naming its model_type', async () => {
    const file = writeConfig('bert', { model_type: 'bert', vocab_size: 30, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 8 });
    const error = await errorOf(runExport({ weights: 'random', task: 'text-generation' }, { config: file }));
    expect(error.code).toBe('EXPORT_CONFIG_UNSUPPORTED');
    expect(error.message).toContain(`${file}: "model_type" is "bert"`);
  });
});
