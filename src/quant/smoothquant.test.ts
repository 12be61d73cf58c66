// SmoothQuant through the patch step on the shipped BERT: the smoothed FP32 model computes the
// original logits (within 1e-4), the channel-max spread of the smoothed activations shrinks, and the
// smoothed model still quantizes to ≥ 99% agreement. A model without LayerNorm → MatMul is untouched.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { agreementOf, BERT_ONNX, logitsOf, writeLangidDatasets } from '../../tests/helpers/bert-langid.ts';
import { model, node, valueInfo } from '../../tests/helpers/onnx-build.ts';
import { artifact, stepContext, withDefaults } from '../../tests/helpers/step-context.ts';
import { useTempDir } from '../../tests/helpers/temp.ts';
import calibrate from '../../plugins/calibrate/index.ts';
import patch from '../../plugins/patch/index.ts';
import { encodeModel } from '../onnx/model-io.ts';
import { readModelWithData } from '../runtime/model-file.ts';
import { DataType } from '../onnx/types.ts';
import { placeQdqForTensorRT } from './place-qdq.ts';
import { smoothingFactors } from './smoothquant.ts';

const root = useTempDir();
let datasets: string;
let smoothed: string;
let metrics: Record<string, any>;
let reference: Float32Array[];

beforeAll(async () => {
  datasets = await writeLangidDatasets(root, { calibration: 32, evaluation: 200 });
  const ctx = stepContext(root, 'smooth');
  const r = await patch.run(withDefaults(patch, { rules: [], smoothquant: { alpha: 0.5 } }), { model: artifact('onnx-model', BERT_ONNX), datasets: artifact('dataset', datasets) }, {}, ctx);
  metrics = r!.metrics! as Record<string, any>;
  smoothed = join(ctx.outDir, 'model.onnx');
  reference = await logitsOf(BERT_ONNX, datasets);
});

describe('SmoothQuant (patch smoothquant:)', () => {
  it('smooths the 8 LayerNorms that feed weights (Q/K/V and FFN-in), restoring the residual path', () => {
    expect(metrics.smoothquant).toMatchObject({ alpha: 0.5, samples: 32, layerNorms: 8, weights: 16, restored: 8 });
    expect(metrics.rules.smoothquant).toMatch(/^applied: 8 LayerNorm/);
  });

  it('the smoothed FP32 model gives the original logits within 1e-4', async () => {
    const after = await logitsOf(smoothed, datasets);
    let maxErr = 0;
    reference.forEach((r, i) => r.forEach((v, j) => (maxErr = Math.max(maxErr, Math.abs(v - after[i]![j]!)))));
    expect(maxErr).toBeLessThan(1e-4);
    expect(readFileSync(smoothed).equals(readFileSync(BERT_ONNX))).toBe(false);
  });

  it('flattens the activation channels: max/median of the channel maxima drops on every LayerNorm', () => {
    // One entry per smoothed LayerNorm: the loop below must not pass by having nothing to check.
    expect(metrics.smoothquant.channelSpread).toHaveLength(8);
    for (const s of metrics.smoothquant.channelSpread as { before: number; after: number }[]) expect(s.after).toBeLessThan(s.before);
  });

  it('the smoothed model quantizes (static int8, percentile) to ≥ 0.99 agreement with FP32', async () => {
    const m = await readModelWithData(smoothed);
    placeQdqForTensorRT(m, { ops: ['MatMul', 'Gemm'], excludeOps: [], excludeNodes: [], activations: 'int8', weights: 'per-channel', attentionMatMuls: true });
    const qdq = join(root, 'smoothed-qdq.onnx');
    writeFileSync(qdq, encodeModel(m));
    const ctx = stepContext(root, 'cal');
    await calibrate.run(withDefaults(calibrate, {}), { model: artifact('qdq-model', qdq), float: artifact('onnx-model', smoothed), datasets: artifact('dataset', datasets) }, {}, ctx);
    const a = await agreementOf(reference, join(ctx.outDir, 'model.onnx'), datasets);
    expect(a.agreement).toBeGreaterThanOrEqual(0.99);
  });

  it('smoothing factors: s = a^α / w^(1−α), 1 for dead channels, α = 0 → 1/w', () => {
    expect(Array.from(smoothingFactors(Float32Array.of(16, 0, 4), Float64Array.of(4, 2, 0), 0.5))).toEqual([2, 1, 1]);
    expect(Array.from(smoothingFactors(Float32Array.of(9), Float64Array.of(4), 0))).toEqual([0.25]);
  });

  it('a model with no LayerNorm feeding a weight is written back byte-identical, with the reason', async () => {
    const m = model({ nodes: [node('Relu', ['x'], ['y'], 'r')], inputs: [valueInfo('x', DataType.FLOAT, [1])], outputs: [valueInfo('y', DataType.FLOAT, [1])] });
    const file = join(root, 'relu.onnx');
    writeFileSync(file, encodeModel(m));
    const ctx = stepContext(root, 'noop');
    const r = await patch.run(withDefaults(patch, { rules: [], smoothquant: {} }), { model: artifact('onnx-model', file), datasets: artifact('dataset', datasets) }, {}, ctx);
    expect((r!.metrics!.rules as Record<string, string>).smoothquant).toMatch(/^not applied/);
    expect(readFileSync(join(ctx.outDir, 'model.onnx')).equals(readFileSync(file))).toBe(true);
  });

  it('declares the data sets as an input only when SmoothQuant is on', () => {
    const inputs = patch.inputs as (o: unknown) => Record<string, unknown>;
    expect(Object.keys(inputs(withDefaults(patch, {})))).toEqual(['model']);
    expect(Object.keys(inputs(withDefaults(patch, { smoothquant: {} })))).toEqual(['model', 'datasets']);
  });
});
