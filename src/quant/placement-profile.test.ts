// qdq.insert's placement profiles on the shipped BERT, through the plugin and calibrate, checked in
// onnxruntime: target tensorrt keeps TensorRT's explicit-quantization rules; target cpu is the form
// onnxruntime's CPU kernels take directly (read back from its optimized graph) and stays accurate.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import calibrate from '../../plugins/calibrate/index.ts';
import qdqInsert from '../../plugins/qdq-insert/index.ts';
import { agreementOf, BERT_ONNX, logitsOf, writeLangidDatasets } from '../../tests/helpers/bert-langid.ts';
import { artifact, stepContext, withDefaults } from '../../tests/helpers/step-context.ts';
import { useTempDir } from '../../tests/helpers/temp.ts';
import { indexGraph } from '../onnx/graph.ts';
import { tensorDims, tensorToFloat32 } from '../onnx/tensor.ts';
import { DataType, type ModelProto } from '../onnx/types.ts';
import { readModelWithData } from '../runtime/model-file.ts';
import { createSession } from '../runtime/session.ts';

const root = useTempDir();
let datasets: string;
let reference: Float32Array[];

beforeAll(async () => {
  datasets = await writeLangidDatasets(root, { calibration: 32, evaluation: 200 });
  reference = await logitsOf(BERT_ONNX, datasets);
});

/** qdq.insert with `options`, then calibrate (minmax): the calibrated model's path. */
async function quantized(options: Record<string, unknown>): Promise<{ path: string; metrics: Record<string, unknown> }> {
  const qctx = stepContext(root, 'qdq');
  const q = await qdqInsert.run(withDefaults(qdqInsert, options), { model: artifact('onnx-model', BERT_ONNX) }, {}, qctx);
  const cctx = stepContext(root, 'cal');
  await calibrate.run(withDefaults(calibrate, { method: 'minmax' }), { model: artifact('qdq-model', join(qctx.outDir, 'model.onnx')), float: artifact('onnx-model', BERT_ONNX), datasets: artifact('dataset', datasets) }, {}, cctx);
  return { path: join(cctx.outDir, 'model.onnx'), metrics: q!.metrics! };
}

async function optimizedGraph(path: string): Promise<ModelProto> {
  const dump = `${path}.optimized.onnx`;
  const s = await createSession(path, { optimization: 'all', optimizedModelFilePath: dump });
  await s.release();
  return readModelWithData(dump);
}

const count = (m: ModelProto, op: string) => m.graph.node.filter((n) => n.opType === op).length;

describe('target: tensorrt (default) — TensorRT explicit quantization', () => {
  it('every MatMul input, attention MatMuls included, comes from a DequantizeLinear; weights int8 per output channel; biases float; no onnxruntime-only op', async () => {
    const { path, metrics } = await quantized({});
    expect(metrics.target).toBe('tensorrt');
    const m = await readModelWithData(path);
    const index = indexGraph(m.graph);
    const matmuls = m.graph.node.filter((n) => n.opType === 'MatMul' || n.opType === 'Gemm');
    expect(matmuls).toHaveLength(34);
    for (const n of matmuls) for (const i of [0, 1]) expect(index.producers.get(n.input[i]!)?.opType).toBe('DequantizeLinear');
    for (const dq of m.graph.node.filter((n) => n.opType === 'DequantizeLinear' && index.initializers.has(n.input[0]!))) {
      expect(index.initializers.get(dq.input[0]!)!.dataType).toBe(DataType.INT8);
      expect(tensorDims(index.initializers.get(dq.input[1]!)!)).toHaveLength(1); // one scale per channel
    }
    for (const g of m.graph.node.filter((n) => n.opType === 'Gemm')) expect(index.initializers.get(g.input[2]!)!.dataType).toBe(DataType.FLOAT);
    expect(m.graph.node.some((n) => (n.domain ?? '') !== '')).toBe(false);
  });
});

describe('target: cpu — the form onnxruntime CPU kernels run', () => {
  it('onnxruntime runs every weight MatMul as MatMulIntegerToFloat with its bias, one QuantizeLinear per activation, Q/K/V as one GEMM, attention float; agreement ≥ 0.99', async () => {
    const { path, metrics } = await quantized({ target: 'cpu' });
    expect(metrics.target).toBe('cpu');
    const opt = await optimizedGraph(path);
    const mmitf = opt.graph.node.filter((n) => n.opType === 'MatMulIntegerToFloat');
    // 4 layers × (Q/K/V fused, attention output, FFN in, FFN out) + pooler + classifier.
    expect(mmitf).toHaveLength(18);
    expect(mmitf.every((n) => n.input.length === 7 && n.input[6])).toBe(true); // bias folded in
    expect(count(opt, 'QuantizeLinear')).toBe(18);
    expect(count(opt, 'DequantizeLinear')).toBe(0);
    expect(count(opt, 'Split')).toBe(4);
    // Q·Kᵀ and P·V stay float (FusedMatMul or MatMul), nothing else is int8.
    expect(count(opt, 'MatMul') + count(opt, 'FusedMatMul')).toBe(8);
    expect(count(opt, 'QLinearMatMul') + count(opt, 'MatMulInteger') + count(opt, 'DynamicQuantizeLinear')).toBe(0);
    // The calibrated scales reached the kernels: the activation scales are not the placeholder 1.
    const model = await readModelWithData(path);
    const scales = model.graph.node.filter((n) => n.opType === 'QuantizeLinear').map((n) => tensorToFloat32(model.graph.initializer.find((t) => t.name === n.input[1])!)[0]);
    expect(scales.every((s) => s !== 1 && s! > 0)).toBe(true);
    const a = await agreementOf(reference, path, datasets);
    expect(a.agreement).toBeGreaterThanOrEqual(0.99);
    expect(a.meanCosine).toBeGreaterThan(0.995);
  });
});

describe('target: cpu with fuseAttention (experimental, bench/cpu-forms.ts): each attention block as QAttention', () => {
  it("on onnx.export's BERT graph: one QAttention per layer, nothing of the blocks left, the same logits as the unfused cpu form", async () => {
    const { readFileSync, writeFileSync } = await import('node:fs');
    const { Checkpoint } = await import('../safetensors/index.ts');
    const { exportEncoder } = await import('../export/export-encoder.ts');
    const { parseEncoderConfig } = await import('../export/encoder-config.ts');
    const { CheckpointWeights } = await import('../export/weight-source.ts');
    const { encodeModel } = await import('../onnx/model-io.ts');
    const { placeForCpu } = await import('./placement-profile.ts');
    const dir = join(BERT_ONNX, '../..');
    const checkpoint = await Checkpoint.open(dir);
    const exported = await exportEncoder(parseEncoderConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), 'config.json'), new CheckpointWeights(checkpoint));
    await checkpoint.close();
    const fp32 = join(root, 'native.onnx');
    writeFileSync(fp32, encodeModel(exported.model));
    const paths: string[] = [];
    for (const fuseAttention of [false, true]) {
      const m = structuredClone(exported.model);
      placeForCpu(m, { excludeNodes: [], excludeOps: [], weights: 'per-channel', fuseAttention });
      if (fuseAttention) {
        expect(count(m, 'QAttention')).toBe(4);
        expect(count(m, 'Softmax') + count(m, 'Transpose')).toBe(0);
      }
      const p = join(root, `native-cpu-${fuseAttention}.onnx`);
      writeFileSync(p, encodeModel(m));
      paths.push(p);
    }
    // Placeholder activation scales (1) are the same in both: the comparison is of the attention arithmetic.
    const logits = await Promise.all(paths.map((p) => logitsOf(p, datasets)));
    let worst = 0;
    logits[0]!.forEach((row, i) => row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - logits[1]![i]![j]!)))));
    expect(worst).toBeLessThan(1e-3);
  });
});
