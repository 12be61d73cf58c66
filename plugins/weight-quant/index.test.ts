// weights.quantize run as the engine runs it, on a small seeded GPT-2 exported natively
// (src/export/decoder): round-to-nearest and GPTQ, MatMulNBits and block-wise QDQ, checked by the
// logits onnxruntime-node gives on held-out token sequences against the FP32 model's.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { artifact, stepContext, withDefaults } from '../../tests/helpers/step-context.ts';
import { seededRandom, useTempDir } from '../../tests/helpers/temp.ts';
import { parseDecoderConfig } from '../../src/export/decoder/decoder-config.ts';
import { exportDecoder } from '../../src/export/decoder/export-decoder.ts';
import { AllRandomWeights } from '../../src/export/decoder/testing.ts';
import { encodeModel } from '../../src/onnx/model-io.ts';
import { createSession } from '../../src/runtime/session.ts';
import { decoderInputs, prefillFeeds } from '../../src/quant/weight-only/decoder-feeds.ts';
import { decodeModel } from '../../src/onnx/model-io.ts';
import { inspectModel } from '../../src/onnx/inspect-model.ts';
import weightQuant, { type WeightQuantOptions } from './index.ts';

const root = useTempDir();
const rand = seededRandom(21);
const VOCAB = 97;
const sequence = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * VOCAB));
const calibration = Array.from({ length: 24 }, () => sequence(32));
const heldOut = Array.from({ length: 8 }, () => sequence(32));
let fp32Path = '';
let datasetsDir = '';
let fp32Logits: Float32Array[] = [];

async function logitsOf(path: string, optimization: 'disabled' | 'basic' | 'all' = 'all', sequences = heldOut): Promise<Float32Array[]> {
  const session = await createSession(path, { intraOpThreads: 1, optimization });
  const d = decoderInputs(decodeModel(readFileSync(path)))!;
  const out: Float32Array[] = [];
  for (const ids of sequences) out.push(Float32Array.from((await session.run(prefillFeeds(d, ids), ['logits'])).logits!.data as Float32Array));
  await session.release();
  return out;
}

/** Σ (logit − FP32 logit)² / Σ FP32 logit² over the held-out sequences. */
function logitError(got: Float32Array[], reference = fp32Logits): number {
  const fp32Logits = reference;
  let e = 0;
  let s = 0;
  got.forEach((g, i) => g.forEach((v, j) => ((e += (v - fp32Logits[i]![j]!) ** 2), (s += fp32Logits[i]![j]! ** 2))));
  return e / s;
}

async function quantize(options: Partial<WeightQuantOptions>, id: string, model = fp32Path) {
  const ctx = stepContext(root, id);
  const result = await weightQuant.run(withDefaults(weightQuant, options), { model: artifact('onnx-model', model), datasets: artifact('dataset', datasetsDir) }, {}, ctx);
  return { path: join(ctx.outDir, 'model.onnx'), metrics: (result as { metrics: Record<string, unknown> }).metrics };
}

beforeAll(async () => {
  const cfg = parseDecoderConfig({ model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: VOCAB, n_embd: 128, n_layer: 2, n_head: 4, n_positions: 64 }, 'config.json');
  const { model } = await exportDecoder(cfg, new AllRandomWeights(3, 0.08));
  fp32Path = join(root, 'fp32.onnx');
  writeFileSync(fp32Path, encodeModel(model));
  datasetsDir = join(root, 'datasets');
  mkdirSync(datasetsDir);
  writeFileSync(join(datasetsDir, 'calibration.json'), JSON.stringify({ name: 'calibration', maxLength: 64, padId: 0, labels: [], samples: calibration.map((ids) => ({ ids, label: 0 })) }));
  fp32Logits = await logitsOf(fp32Path);
});

describe('weights.quantize on a GPT-2', () => {
  it('INT4 RTN and GPTQ in both forms: GPTQ moves the held-out logits less, the forms agree, the model is ≥ 3× smaller', async () => {
    const rtn = await quantize({ bits: 4, blockSize: 32 }, 'rtn');
    const gptq = await quantize({ bits: 4, blockSize: 32, method: 'gptq' }, 'gptq');
    // The qdq form defaults to symmetric codes (TensorRT); asked for zero points, it holds the same codes.
    const gptqQdq = await quantize({ bits: 4, blockSize: 32, method: 'gptq', form: 'qdq', symmetric: false }, 'gptq-qdq');
    const eRtn = logitError(await logitsOf(rtn.path));
    const eGptq = logitError(await logitsOf(gptq.path));
    const eQdq = logitError(await logitsOf(gptqQdq.path));
    console.log(`held-out logit error: RTN ${eRtn.toExponential(3)}, GPTQ ${eGptq.toExponential(3)} (QDQ form ${eQdq.toExponential(3)}); sizes ×${(rtn.metrics.sizeRatio as number).toFixed(2)}; metrics ${JSON.stringify(gptq.metrics)}`);
    expect(rtn.metrics).toMatchObject({ method: 'rtn', form: 'matmulnbits', symmetric: false, bits: 4, blockSize: 32, quantizedMatMuls: 9, calibrationTokens: 0 });
    expect(gptqQdq.metrics).toMatchObject({ form: 'qdq', symmetric: false });
    // qrun inspect reads both forms as weight-only.
    const nbits = inspectModel(decodeModel(readFileSync(gptq.path))).quantizable.find((n) => n.name === '/lm_head/MatMul_Q4');
    expect(nbits).toMatchObject({ opType: 'MatMulNBits', precision: 'weights-only', weights: 'int4, blocks of 32' });
    const qdq = inspectModel(decodeModel(readFileSync(gptqQdq.path))).quantizable.find((n) => n.name === '/lm_head/MatMul');
    expect(qdq).toMatchObject({ precision: 'weights-only', weights: `blocks of 32 (${4 * VOCAB} scales)` });
    expect(gptq.metrics).toMatchObject({ method: 'gptq', quantizedMatMuls: 9, calibrationTokens: 24 * 32 });
    expect(eGptq).toBeLessThan(0.8 * eRtn);
    expect(gptq.metrics.outputError as number).toBeLessThan(gptq.metrics.rtnOutputError as number);
    // The same codes in either form: the same logits, when onnxruntime runs each form as written
    // (optimizing, it fuses DequantizeLinear + MatMul into MatMulNBits with int8 activations,
    // session option session.qdq_matmulnbits_accuracy_level = 4, hence eQdq ≠ eGptq slightly).
    const [a, b] = [await logitsOf(gptq.path, 'disabled'), await logitsOf(gptqQdq.path, 'disabled')];
    let [diff, norm, maxAbs] = [0, 0, 0];
    a.forEach((row, i) => row.forEach((v, j) => ((diff += (v - b[i]![j]!) ** 2), (norm += v * v), (maxAbs = Math.max(maxAbs, Math.abs(v - b[i]![j]!))))));
    console.log(`forms: relative logit difference ${Math.sqrt(diff / norm).toExponential(2)}, max |Δ| ${maxAbs.toExponential(2)}`);
    expect(Math.sqrt(diff / norm)).toBeLessThan(1e-4);
    expect(rtn.metrics.sizeRatio as number).toBeGreaterThanOrEqual(3);
  });

  it('embeddings: true also quantizes the token and position tables (GatherBlockQuantized), smaller still', async () => {
    const plain = await quantize({ bits: 4, blockSize: 64 }, 'b64');
    const all = await quantize({ bits: 4, blockSize: 64, embeddings: true }, 'b64-emb');
    expect(all.metrics).toMatchObject({ quantizedMatMuls: 9, quantizedEmbeddings: 2 });
    expect(all.metrics.bytes as number).toBeLessThan(plain.metrics.bytes as number);
    const model = decodeModel(readFileSync(all.path));
    expect(model.graph.node.filter((n) => n.opType === 'GatherBlockQuantized').length).toBe(2);
    expect(logitError(await logitsOf(all.path))).toBeLessThan(3 * logitError(await logitsOf(plain.path)));
  });

  it('a Llama-family decoder (grouped-query attention, SwiGLU, q/k/v and gate/up sharing their input): GPTQ below RTN', async () => {
    const cfg = parseDecoderConfig(
      { model_type: 'llama', architectures: ['LlamaForCausalLM'], vocab_size: VOCAB, hidden_size: 96, intermediate_size: 160, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, tie_word_embeddings: false },
      'config.json',
    );
    const path = join(root, 'llama.onnx');
    writeFileSync(path, encodeModel((await exportDecoder(cfg, new AllRandomWeights(4, 0.08))).model));
    const reference = await logitsOf(path);
    const rtn = await quantize({ bits: 4, blockSize: 32 }, 'llama-rtn', path);
    const gptq = await quantize({ bits: 4, blockSize: 32, method: 'gptq', form: 'qdq', symmetric: false }, 'llama-gptq', path);
    expect(gptq.metrics).toMatchObject({ quantizedMatMuls: 2 * 7 + 1 });
    expect(logitError(await logitsOf(gptq.path), reference)).toBeLessThan(0.8 * logitError(await logitsOf(rtn.path), reference));
  });

  it('exclude keeps named MatMuls float; bad input fails with a code and a hint', async () => {
    const kept = await quantize({ bits: 4, exclude: { nodes: ['lm_head'] } }, 'exclude');
    expect(kept.metrics).toMatchObject({ quantizedMatMuls: 8, excluded: ['/lm_head/MatMul'] });
    expect(decodeModel(readFileSync(kept.path)).graph.node.find((n) => n.name === '/lm_head/MatMul')?.opType).toBe('MatMul');
    await expect(quantize({ exclude: { nodes: ['lm_haed'] } }, 'typo')).rejects.toMatchObject({ diagnostics: [{ code: 'EXCLUDE_NO_MATCH' }] });
    // GPTQ needs the tokenized calibration texts.
    const ctx = stepContext(root, 'no-data');
    await expect(weightQuant.run(withDefaults(weightQuant, { method: 'gptq' }), { model: artifact('onnx-model', fp32Path) }, {}, ctx)).rejects.toMatchObject({ diagnostics: [{ code: 'USAGE', hint: expect.stringContaining('hf.load') }] });
    // Block-wise DequantizeLinear needs opset 21: an opset-17 model is refused, naming the fix.
    const old = decodeModel(readFileSync(fp32Path));
    old.opsetImport = [{ domain: '', version: 17 }];
    const oldPath = join(root, 'opset17.onnx');
    writeFileSync(oldPath, encodeModel(old));
    await expect(quantize({ form: 'qdq' }, 'opset17', oldPath)).rejects.toMatchObject({ diagnostics: [{ code: 'USAGE', hint: expect.stringContaining('opset 21') }] });
  });

  it('SIGTERM during GPTQ stops the step at the next weight: the abort comes from a signal handler (a later macrotask), as in the CLI', async () => {
    const ctx = stepContext(root, 'gptq-abort');
    const controller = new AbortController();
    let gptqWeights = 0;
    const emit = ctx.emit;
    // The CLI's SIGTERM handler runs on the event loop: GPTQ's loop must give it a turn between weights.
    ctx.emit = (e) => {
      emit(e);
      if (e.type === 'progress' && e.message?.startsWith('gptq: ') && ++gptqWeights === 1) setImmediate(() => controller.abort(new Error('interrupted by SIGTERM')));
    };
    const run = weightQuant.run(withDefaults(weightQuant, { bits: 4, method: 'gptq' }), { model: artifact('onnx-model', fp32Path), datasets: artifact('dataset', datasetsDir) }, {}, { ...ctx, signal: controller.signal });
    await expect(run).rejects.toThrow(/interrupted/);
    expect(gptqWeights).toBeLessThan(9);
  });

  it('INT8 per channel: far closer than INT4; same options, same bytes', async () => {
    const a = await quantize({ bits: 8, method: 'gptq' }, 'int8-a');
    const b = await quantize({ bits: 8, method: 'gptq' }, 'int8-b');
    expect(readFileSync(a.path).equals(readFileSync(b.path))).toBe(true);
    expect(a.metrics).toMatchObject({ bits: 8, blockSize: 0 });
    expect(logitError(await logitsOf(a.path))).toBeLessThan(1e-3);
  });
});
