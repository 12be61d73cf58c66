// calibrate on the shipped BERT, whose attention probabilities (Softmax outputs) are quantized: with
// entropy and percentile, which would clip the few large probabilities, every Softmax output gets
// the range Softmax guarantees — scale exactly 1/127 for int8, 1/255 with zero point 0 for uint8 —
// and calibration.json says which rule set each range. The pooler's Tanh output takes [−1, 1].
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BERT_ONNX, writeLangidDatasets } from '../../tests/helpers/bert-langid.ts';
import { artifact, stepContext, withDefaults } from '../../tests/helpers/step-context.ts';
import { useTempDir } from '../../tests/helpers/temp.ts';
import { encodeModel } from '../../src/onnx/model-io.ts';
import { readModelWithData } from '../../src/runtime/model-file.ts';
import { placeQdqForTensorRT } from '../../src/quant/place-qdq.ts';
import calibrate from './index.ts';

const root = useTempDir();
let datasets: string;
const qdqPaths: Record<string, string> = {};

beforeAll(async () => {
  datasets = await writeLangidDatasets(root, { calibration: 32 });
  for (const activations of ['int8', 'uint8'] as const) {
    const m = await readModelWithData(BERT_ONNX);
    placeQdqForTensorRT(m, { ops: ['MatMul', 'Gemm'], excludeOps: [], excludeNodes: [], activations, weights: 'per-channel', attentionMatMuls: true });
    qdqPaths[activations] = join(root, `qdq-${activations}.onnx`);
    writeFileSync(qdqPaths[activations], encodeModel(m));
  }
});

interface TensorStats {
  tensor: string;
  max: number;
  threshold: number;
  scale: number;
  zeroPoint: number;
  rangeFrom?: string;
}

describe('calibrate: Softmax outputs keep their known range [0, 1]', () => {
  // With the shift (the default) int8 probabilities are centred: [−0.5, 0.5] at 1/254 (src/quant/shift.ts).
  it.each([
    ['entropy', 'int8', true, 0.5, 0.5 / 127],
    ['percentile', 'int8', true, 0.5, 0.5 / 127],
    ['entropy', 'int8', false, 1, 1 / 127],
    ['percentile', 'int8', false, 1, 1 / 127],
    ['entropy', 'uint8', true, 1, 1 / 255],
    ['percentile', 'uint8', true, 1, 1 / 255],
  ] as const)('%s, %s activations, shift %s: every attention probability tensor gets threshold %f, scale %f, zero point 0', async (method, activations, shift, threshold, scale) => {
    const ctx = stepContext(root, `calibrate-${method}-${activations}-${shift}`);
    await calibrate.run(
      withDefaults(calibrate, { method, shift }),
      { model: artifact('qdq-model', qdqPaths[activations]!), float: artifact('onnx-model', BERT_ONNX), datasets: artifact('dataset', datasets) },
      {},
      ctx,
    );
    const stats = JSON.parse(readFileSync(join(ctx.outDir, 'calibration.json'), 'utf8')) as { tensors: TensorStats[] };
    const softmax = stats.tensors.filter((t) => /Softmax_output/.test(t.tensor));
    expect(softmax.length).toBeGreaterThan(0);
    for (const t of softmax) {
      expect({ tensor: t.tensor, threshold: t.threshold, scale: t.scale, zeroPoint: t.zeroPoint }).toEqual({ tensor: t.tensor, threshold, scale: Math.fround(scale), zeroPoint: 0 });
      expect(t.rangeFrom).toBe('softmax [0, 1]');
    }
    // The pooler's Tanh output (the classifier's input) takes [−1, 1]: threshold 1 for int8.
    const tanh = stats.tensors.filter((t) => /Tanh_output/.test(t.tensor));
    expect(tanh.map((t) => t.rangeFrom)).toEqual(['tanh [-1, 1]']);
    if (activations === 'int8') expect(tanh[0]!.scale).toBe(Math.fround(1 / 127));
    // The other tensors keep the method's threshold, and say so.
    const others = stats.tensors.filter((t) => !/(Softmax|Tanh)_output/.test(t.tensor));
    expect(others.length).toBeGreaterThan(0);
    for (const t of others) expect(t.rangeFrom).toBe(method === 'percentile' ? 'percentile 99.99' : method);
  });
});

describe('calibrate: a Relu6-like Clip(0, 6) feeding a MatMul', () => {
  // x ~ N(1, 2²) through Clip(0, 6): 0.6% of the values sit exactly at 6 (and 31% at 0). Percentile
  // 99 cuts below 6 by its own measure (to 5.59 without the bound); moving that mass from 6 to T < 6 costs
  // 0.006·(6 − T)², whose growth 0.012·(6 − T) passes the rounding error's 2T/(3·127²) once T < ~5.98:
  // the consumer's least error lies there, so every method keeps about 6, and none goes beyond it.
  const C = 16;
  let fp32: string;
  let qdq: Record<'int8' | 'uint8', string>;
  let data: string;
  beforeAll(async () => {
    const { makeFloatTensor } = await import('../../src/onnx/tensor.ts');
    const { DataType } = await import('../../src/onnx/types.ts');
    const { model, node, valueInfo } = await import('../../tests/helpers/onnx-build.ts');
    const { seededRandom } = await import('../../tests/helpers/temp.ts');
    const rand = seededRandom(5);
    const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    const w = Float32Array.from({ length: C * 4 }, () => gauss() / 4);
    const m = model({
      nodes: [node('Clip', ['x', 'lo', 'hi'], ['h'], 'relu6'), node('MatMul', ['h', 'W'], ['logits'], 'classifier')],
      inputs: [valueInfo('x', DataType.FLOAT, ['batch', C])],
      outputs: [valueInfo('logits', DataType.FLOAT, ['batch', 4])],
      initializers: [makeFloatTensor('lo', [], Float32Array.of(0)), makeFloatTensor('hi', [], Float32Array.of(6)), makeFloatTensor('W', [C, 4], w)],
    });
    fp32 = join(root, 'relu6.onnx');
    writeFileSync(fp32, encodeModel(m));
    qdq = { int8: join(root, 'relu6-qdq-int8.onnx'), uint8: join(root, 'relu6-qdq-uint8.onnx') };
    for (const activations of ['int8', 'uint8'] as const) {
      const q = structuredClone(m);
      placeQdqForTensorRT(q, { ops: ['MatMul'], excludeOps: [], excludeNodes: [], activations, weights: 'per-channel', attentionMatMuls: true });
      writeFileSync(qdq[activations], encodeModel(q));
    }
    data = join(root, 'relu6.tensors.jsonl');
    writeFileSync(data, Array.from({ length: 300 }, () => JSON.stringify({ x: Array.from({ length: C }, () => 1 + 2 * gauss()) })).join('\n') + '\n');
  });

  it.each([
    ['minmax', 'int8'],
    ['percentile', 'int8'],
    ['entropy', 'int8'],
    ['mse', 'int8'],
    ['auto', 'int8'],
    ['entropy', 'uint8'],
    ['mse', 'uint8'],
  ] as const)('%s, %s: the range is [0, 6] (the bound, which the data reach), not cut below', async (method, activations) => {
    const ctx = stepContext(root, `calibrate-relu6-${method}-${activations}`);
    // shift: false — a centred tensor's bounds move with each channel's centre; this is the unshifted bound.
    await calibrate.run(withDefaults(calibrate, { method, tensors: data, percentile: 99, shift: false }), { model: artifact('qdq-model', qdq[activations]), float: artifact('onnx-model', fp32) }, { tensors: data }, ctx);
    const stats = JSON.parse(readFileSync(join(ctx.outDir, 'calibration.json'), 'utf8')) as { tensors: (TensorStats & { bound?: string; raisedFrom?: number })[] };
    const t = stats.tensors[0]!;
    expect(t.bound).toBe('clip [0, 6]');
    expect(t.threshold).toBeLessThanOrEqual(6);
    expect(t.threshold).toBeGreaterThan(6 * 0.99);
    if (activations === 'uint8') expect({ zeroPoint: t.zeroPoint, scale: t.scale }).toEqual({ zeroPoint: 0, scale: Math.fround(t.threshold / 255) });
  });
});
