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
  it.each([
    ['entropy', 'int8', 1 / 127],
    ['percentile', 'int8', 1 / 127],
    ['entropy', 'uint8', 1 / 255],
    ['percentile', 'uint8', 1 / 255],
  ] as const)('%s, %s activations: every attention probability tensor gets scale %f, zero point 0', async (method, activations, scale) => {
    const ctx = stepContext(root, `calibrate-${method}-${activations}`);
    await calibrate.run(
      withDefaults(calibrate, { method }),
      { model: artifact('qdq-model', qdqPaths[activations]!), float: artifact('onnx-model', BERT_ONNX), datasets: artifact('dataset', datasets) },
      {},
      ctx,
    );
    const stats = JSON.parse(readFileSync(join(ctx.outDir, 'calibration.json'), 'utf8')) as { tensors: TensorStats[] };
    const softmax = stats.tensors.filter((t) => /Softmax_output/.test(t.tensor));
    expect(softmax.length).toBeGreaterThan(0);
    for (const t of softmax) {
      expect({ tensor: t.tensor, threshold: t.threshold, scale: t.scale, zeroPoint: t.zeroPoint }).toEqual({ tensor: t.tensor, threshold: 1, scale: Math.fround(scale), zeroPoint: 0 });
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
