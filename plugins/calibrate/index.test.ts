// calibrate on the shipped BERT: every method keeps ≥ 99% agreement with FP32 in onnxruntime, the
// methods really differ, tensor data give the same scales as the same samples tokenized, and the
// metrics carry the peak memory growth.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { agreementOf, BERT_ONNX, logitsOf, writeLangidDatasets } from '../../tests/helpers/bert-langid.ts';
import { artifact, stepContext, withDefaults } from '../../tests/helpers/step-context.ts';
import { useTempDir } from '../../tests/helpers/temp.ts';
import type { TokenizedDataset } from '../../src/data/tokenized-dataset.ts';
import { encodeModel } from '../../src/onnx/model-io.ts';
import { readModelWithData } from '../../src/runtime/model-file.ts';
import { placeQdqForTensorRT } from '../../src/quant/place-qdq.ts';
import calibrate, { type CalibrateOptions } from './index.ts';

const root = useTempDir();
let datasets: string;
let qdqPath: string;
let reference: Float32Array[];

beforeAll(async () => {
  datasets = await writeLangidDatasets(root, { calibration: 64, evaluation: 300 });
  const m = await readModelWithData(BERT_ONNX);
  placeQdqForTensorRT(m, { ops: ['MatMul', 'Gemm'], excludeOps: [], excludeNodes: [], activations: 'int8', weights: 'per-channel', attentionMatMuls: true });
  qdqPath = join(root, 'qdq.onnx');
  writeFileSync(qdqPath, encodeModel(m));
  reference = await logitsOf(BERT_ONNX, datasets);
});

async function runCalibrate(options: Partial<CalibrateOptions>, sources: Record<string, string> = {}) {
  const ctx = stepContext(root, 'calibrate');
  const result = await calibrate.run(
    withDefaults(calibrate, options),
    { model: artifact('qdq-model', qdqPath), float: artifact('onnx-model', BERT_ONNX), datasets: artifact('dataset', datasets) },
    sources,
    ctx,
  );
  const stats = JSON.parse(readFileSync(join(ctx.outDir, 'calibration.json'), 'utf8')) as { tensors: { tensor: string; threshold: number; scale: number }[] };
  return { model: join(ctx.outDir, 'model.onnx'), metrics: result!.metrics!, stats };
}

describe('calibrate methods on the shipped BERT', () => {
  const thresholds: Record<string, number[]> = {};

  it.each(['minmax', 'percentile', 'entropy', 'mse'] as const)('%s keeps agreement with FP32 ≥ 0.99', async (method) => {
    const r = await runCalibrate({ method });
    expect(r.metrics.method).toMatch(method === 'percentile' ? /^percentile 99.99$/ : new RegExp(`^${method}$`));
    expect(r.metrics.samples).toBe(64);
    expect(typeof r.metrics.peakRssDeltaMiB).toBe('number');
    const a = await agreementOf(reference, r.model, datasets);
    expect(a.agreement).toBeGreaterThanOrEqual(0.99);
    expect(a.meanCosine).toBeGreaterThan(0.99);
    thresholds[method] = r.stats.tensors.map((t) => t.threshold);
  });

  it('the methods clip differently: every histogram method is ≤ min/max on each tensor, and they differ', () => {
    const mm = thresholds.minmax!;
    for (const m of ['percentile', 'entropy', 'mse']) {
      thresholds[m]!.forEach((t, k) => expect(t).toBeLessThanOrEqual(mm[k]! * (1 + 1e-9)));
      expect(thresholds[m]).not.toEqual(mm);
    }
    expect(thresholds.entropy).not.toEqual(thresholds.mse);
  });
});

describe('calibrate on tensor data', () => {
  it('the same samples as JSON lines of input tensors give the same scales as the tokenized data set', async () => {
    const ds = JSON.parse(readFileSync(join(datasets, 'calibration.json'), 'utf8')) as TokenizedDataset;
    const file = join(root, 'calib.tensors.jsonl');
    writeFileSync(
      file,
      ds.samples.map((s) => JSON.stringify({ input_ids: s.ids, attention_mask: s.ids.map(() => 1), token_type_ids: s.ids.map(() => 0) })).join('\n'),
    );
    const fromText = await runCalibrate({ method: 'minmax' });
    const fromTensors = await runCalibrate({ method: 'minmax', tensors: file }, { tensors: file });
    expect(fromTensors.metrics.samples).toBe(64);
    expect(fromTensors.metrics.data).toBe('tensors: calib.tensors.jsonl');
    expect(fromTensors.stats.tensors.map((t) => t.scale)).toEqual(fromText.stats.tensors.map((t) => t.scale));
  });

  it('sources(): `tensors:` resolves from the recipe folder; a data set whose file holds tensors is used directly', () => {
    const recipe = { file: '/r/x.yaml', dir: '/r', data: { calibration: { path: '/d/c.npz' }, evaluation: { path: '/d/e.jsonl' } } };
    expect(calibrate.sources!(withDefaults(calibrate, { tensors: 'px.npy' }), recipe)).toEqual({ tensors: { path: '/r/px.npy' } });
    expect(calibrate.sources!(withDefaults(calibrate, {}), recipe)).toEqual({ tensors: { path: '/d/c.npz' } });
    expect(calibrate.sources!(withDefaults(calibrate, { data: 'evaluation' }), recipe)).toEqual({});
  });
});
