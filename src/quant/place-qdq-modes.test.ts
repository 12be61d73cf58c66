// Placement options beyond the MatMul defaults: Conv (per-channel axis 0), residual Adds, weight-only
// and dynamic modes, Constant-node weights (dynamo exports); numbers checked in onnxruntime.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { agreementOf, BERT_ONNX, logitsOf, writeLangidDatasets } from '../../tests/helpers/bert-langid.ts';
import { floatTensor, model, node, run, valueInfo } from '../../tests/helpers/onnx-build.ts';
import { artifact, stepContext, withDefaults } from '../../tests/helpers/step-context.ts';
import { seededRandom, useTempDir } from '../../tests/helpers/temp.ts';
import { writeFileSync } from 'node:fs';
import qdqInsert from '../../plugins/qdq-insert/index.ts';
import calibrate from '../../plugins/calibrate/index.ts';
import { indexGraph } from '../onnx/graph.ts';
import { decodeModel, encodeModel } from '../onnx/model-io.ts';
import { readModelWithData } from '../runtime/model-file.ts';
import { makeFloatTensor, tensorDims, tensorToFloat32 } from '../onnx/tensor.ts';
import { DataType, toNumber, type ModelProto } from '../onnx/types.ts';
import { createSession } from '../runtime/session.ts';
import { withActivationOutputs } from './activation-runner.ts';
import { findResidualAdds, placeQdqForTensorRT, type QdqPlacementOptions } from './place-qdq.ts';
import { symmetricScale } from './scale-math.ts';

const DEFAULTS: QdqPlacementOptions = { ops: ['MatMul', 'Gemm'], excludeOps: [], excludeNodes: [], activations: 'int8', weights: 'per-channel', attentionMatMuls: true };
const root = useTempDir();
const rand = seededRandom(7);
const randoms = (n: number, scale = 1) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);

/** Sets every activation scale from the FP32 model's own min/max on `feeds` (a minimal calibration). */
async function calibrateMinMax(fp32: ModelProto, qdq: ModelProto, feeds: Record<string, ort.Tensor>): Promise<void> {
  const qs = qdq.graph.node.filter((n) => n.opType === 'QuantizeLinear' && !qdq.graph.initializer.some((t) => t.name === n.input[0]));
  const tensors = [...new Set(qs.map((q) => q.input[0]!))];
  const session = await createSession(withActivationOutputs(fp32, tensors), { optimization: 'disabled' });
  const out = await session.run(feeds, tensors);
  await session.release();
  const inits = new Map(qdq.graph.initializer.map((t) => [t.name, t]));
  for (const q of qs) {
    const absMax = Math.max(...Array.from(out[q.input[0]!]!.data as Float32Array, Math.abs));
    Object.assign(inits.get(q.input[1]!)!, makeFloatTensor(q.input[1]!, [], Float32Array.of(symmetricScale(absMax))));
  }
}

/** A small ResNet-like CNN: conv+bias → relu → conv (identity residual) → relu → conv stride 2 plus a 1×1 projection shortcut. */
function tinyCnn(): ModelProto {
  const attrs = (pads: number, strides = 1) => [
    { name: 'pads', type: 7, ints: [pads, pads, pads, pads] },
    { name: 'strides', type: 7, ints: [strides, strides] },
  ];
  return model({
    nodes: [
      node('Conv', ['x', 'w1', 'b1'], ['c1'], 'conv1', attrs(1)),
      node('Relu', ['c1'], ['r1'], 'relu1'),
      node('Conv', ['r1', 'w2', 'b2'], ['c2'], 'conv2', attrs(1)),
      node('Add', ['c2', 'r1'], ['s1'], 'add_identity'),
      node('Relu', ['s1'], ['r2'], 'relu2'),
      node('Conv', ['r2', 'w3', 'b3'], ['c3'], 'conv3', attrs(1, 2)),
      node('Conv', ['r2', 'wp', 'bp'], ['cp'], 'conv_proj', attrs(0, 2)),
      node('Add', ['c3', 'cp'], ['y'], 'add_projection'),
    ],
    inputs: [valueInfo('x', DataType.FLOAT, ['N', 3, 8, 8])],
    outputs: [valueInfo('y', DataType.FLOAT, ['N', 4, 4, 4])],
    initializers: [
      makeFloatTensor('w1', [4, 3, 3, 3], randoms(108, 0.5)),
      makeFloatTensor('b1', [4], randoms(4, 0.1)),
      makeFloatTensor('w2', [4, 4, 3, 3], randoms(144, 0.3)),
      makeFloatTensor('b2', [4], randoms(4, 0.1)),
      makeFloatTensor('w3', [4, 4, 3, 3], randoms(144, 0.3)),
      makeFloatTensor('b3', [4], randoms(4, 0.1)),
      makeFloatTensor('wp', [4, 4, 1, 1], randoms(16, 0.5)),
      makeFloatTensor('bp', [4], randoms(4, 0.1)),
    ],
  });
}

describe('Conv', () => {
  it('per-channel int8 weights on axis 0, float biases, and outputs within int8 error of FP32', async () => {
    const fp32 = tinyCnn();
    const qdq = decodeModel(encodeModel(fp32));
    const p = placeQdqForTensorRT(qdq, { ...DEFAULTS, ops: ['Conv'] });
    expect(p.quantizedNodes).toEqual(['conv1', 'conv2', 'conv3', 'conv_proj']);
    expect(p.weights).toBe(4);
    const index = indexGraph(qdq.graph);
    for (const c of qdq.graph.node.filter((n) => n.opType === 'Conv')) {
      const dq = index.producers.get(c.input[1]!)!;
      expect(dq.opType).toBe('DequantizeLinear');
      expect(toNumber(dq.attribute.find((a) => a.name === 'axis')?.i)).toBe(0);
      expect(tensorDims(index.initializers.get(dq.input[1]!)!)).toEqual([4]);
      expect(index.producers.get(c.input[0]!)?.opType).toBe('DequantizeLinear');
      expect(index.initializers.get(c.input[2]!)?.dataType).toBe(DataType.FLOAT);
    }
    const feeds = { x: floatTensor(Array.from(randoms(2 * 3 * 64)), [2, 3, 8, 8]) };
    await calibrateMinMax(fp32, qdq, feeds);
    const ref = (await run(fp32, feeds)).y!.data as Float32Array;
    const got = (await run(qdq, feeds)).y!.data as Float32Array;
    const range = Math.max(...Array.from(ref, Math.abs));
    let maxErr = 0;
    for (let i = 0; i < ref.length; i++) maxErr = Math.max(maxErr, Math.abs(ref[i]! - got[i]!));
    expect(maxErr).toBeGreaterThan(0); // really quantized
    expect(maxErr / range).toBeLessThan(0.05);
  });
});

describe('residual Adds', () => {
  it('CNN: the identity shortcut and the shorter (projection) branch get Q/DQ; nothing else does', () => {
    const m = tinyCnn();
    const found = findResidualAdds(m);
    expect([...found].map(([n, i]) => [n.name, n.input[i]])).toEqual([
      ['add_identity', 'r1'],
      ['add_projection', 'cp'],
    ]);
    const p = placeQdqForTensorRT(m, { ...DEFAULTS, ops: ['Conv'], residualAdd: true });
    expect(p.residualAdds).toEqual(['add_identity', 'add_projection']);
    const index = indexGraph(m.graph);
    const add = m.graph.node.find((n) => n.name === 'add_identity')!;
    expect(index.producers.get(add.input[1]!)?.opType).toBe('DequantizeLinear');
    expect(add.input[0]).toBe('c2'); // the layer output itself stays float: TensorRT fuses the Add there
  });

  it('BERT: the 8 residual Adds quantize their LayerNorm shortcut; the mask Add and LayerNorm/Softmax inputs stay float', () => {
    const m = decodeModel(readFileSync(BERT_ONNX));
    const p = placeQdqForTensorRT(m, { ...DEFAULTS, residualAdd: true });
    expect(p.residualAdds).toHaveLength(8);
    const index = indexGraph(m.graph);
    for (const name of p.residualAdds!) {
      const add = m.graph.node.find((n) => n.name === name)!;
      const dq = index.producers.get(add.input[1]!)!;
      expect(dq.opType).toBe('DequantizeLinear');
      const q = index.producers.get(dq.input[0]!)!;
      expect(index.producers.get(q.input[0]!)?.opType).toBe('LayerNormalization');
    }
    // Never inside (or on the inputs of) Softmax / LayerNorm: a DQ feeds only MatMul, Gemm or a residual Add.
    const residual = new Set(p.residualAdds);
    for (const dq of m.graph.node.filter((n) => n.opType === 'DequantizeLinear')) {
      for (const c of index.consumers.get(dq.output[0]!) ?? []) {
        expect(c.opType === 'MatMul' || c.opType === 'Gemm' || (c.opType === 'Add' && residual.has(c.name!)), `${dq.name} → ${c.opType} ${c.name}`).toBe(true);
      }
    }
    for (const n of m.graph.node.filter((x) => x.opType === 'LayerNormalization' || x.opType === 'Softmax')) {
      for (const i of n.input) expect(index.producers.get(i)?.opType ?? 'input', n.name!).not.toBe('DequantizeLinear');
    }
  });

  it('an Add inside tanh-GELU (x + 0.044715·x³ after a MatMul) is not a residual', () => {
    const m = model({
      nodes: [
        node('MatMul', ['x', 'W'], ['h'], 'mm'),
        node('Pow', ['h', 'three'], ['h3'], 'pow'),
        node('Mul', ['h3', 'c'], ['h3c'], 'mul'),
        node('Add', ['h', 'h3c'], ['inner'], 'gelu_add'),
      ],
      inputs: [valueInfo('x', DataType.FLOAT, [1, 2])],
      outputs: [valueInfo('inner', DataType.FLOAT, [1, 2])],
      initializers: [makeFloatTensor('W', [2, 2], Float32Array.of(1, 0, 0, 1)), makeFloatTensor('three', [], Float32Array.of(3)), makeFloatTensor('c', [], Float32Array.of(0.044715))],
    });
    expect(findResidualAdds(m).size).toBe(0);
  });
});

describe('Constant-node weights (dynamo-style exports)', () => {
  it('are quantized like initializers, and the Constant node goes', () => {
    const m = model({
      nodes: [
        { opType: 'Constant', input: [], output: ['W'], name: 'const_w', attribute: [{ name: 'value', type: 4, t: makeFloatTensor('', [2, 3], Float32Array.of(1, 2, 3, 4, 5, 6)) }] },
        node('MatMul', ['x', 'W'], ['y'], 'mm'),
      ],
      inputs: [valueInfo('x', DataType.FLOAT, [1, 2])],
      outputs: [valueInfo('y', DataType.FLOAT, [1, 3])],
    });
    const p = placeQdqForTensorRT(m, DEFAULTS);
    expect(p.weights).toBe(1);
    expect(m.graph.node.some((n) => n.opType === 'Constant')).toBe(false);
    const q = m.graph.initializer.find((t) => t.name === 'W_quantized')!;
    // Per column (axis 1) of [[1, 2, 3], [4, 5, 6]]: scales 4/127, 5/127, 6/127; 63.5 rounds to even.
    expect(Array.from(tensorToFloat32(q))).toEqual([32, 51, 64, 127, 127, 127]);
    expect(tensorDims(q)).toEqual([2, 3]);
  });
});

describe('weight-only and dynamic modes on the shipped BERT', () => {
  let datasets: string;
  let reference: Float32Array[];
  beforeAll(async () => {
    datasets = await writeLangidDatasets(root, { evaluation: 200 });
    reference = await logitsOf(BERT_ONNX, datasets);
  });

  async function placed(mode: 'weight-only' | 'dynamic'): Promise<{ path: string; m: ModelProto; p: ReturnType<typeof placeQdqForTensorRT> }> {
    const m = await readModelWithData(BERT_ONNX);
    const p = placeQdqForTensorRT(m, { ...DEFAULTS, mode });
    const path = join(root, `${mode}.onnx`);
    writeFileSync(path, encodeModel(m));
    return { path, m, p };
  }

  it('weight-only: int8 weights behind DQ, no activation Q/DQ, agreement ≥ 0.99', async () => {
    const { path, m, p } = await placed('weight-only');
    expect(p.weights).toBe(26);
    expect(m.graph.node.filter((n) => n.opType === 'QuantizeLinear')).toHaveLength(0);
    expect(p.skippedNodes.map((s) => s.reason)).toEqual(new Array(8).fill('activation × activation MatMul (mode: weight-only quantizes weights only)'));
    expect((await agreementOf(reference, path, datasets)).agreement).toBeGreaterThanOrEqual(0.99);
  });

  it('dynamic: the quantize_dynamic form, which onnxruntime fuses into integer kernels; agreement ≥ 0.99', async () => {
    const { path, m, p } = await placed('dynamic');
    expect(p.quantizedNodes).toHaveLength(29); // 26 weight MatMuls/Gemms and the 3 embedding Gathers, as quantize_dynamic does
    const ops = (op: string) => m.graph.node.filter((n) => n.opType === op).length;
    // One DynamicQuantizeLinear per activation tensor (Q, K and V share theirs): src/quant/dynamic-form.test.ts.
    expect([ops('DynamicQuantizeLinear'), ops('MatMulInteger'), ops('Gemm'), ops('QuantizeLinear')]).toEqual([18, 26, 0, 0]);
    const optimized = join(root, 'dynamic.opt.onnx');
    const s = await createSession(path, { optimization: 'all', optimizedModelFilePath: optimized });
    await s.release();
    const fused = (await readModelWithData(optimized)).graph.node;
    const integer = fused.filter((n) => n.opType === 'DynamicQuantizeMatMul' || n.opType === 'MatMulIntegerToFloat').length;
    expect(integer).toBe(26); // every weight MatMul/Gemm runs on int8 kernels
    expect(fused.filter((n) => n.opType === 'MatMulInteger')).toHaveLength(0);
    const a = await agreementOf(reference, path, datasets);
    expect(a.agreement).toBeGreaterThanOrEqual(0.99);
    expect(a.meanCosine).toBeGreaterThan(0.995);
  });

  it('calibrate passes a dynamic model through unchanged (nothing to calibrate)', async () => {
    const { path } = await placed('dynamic');
    const ctx = stepContext(root, 'cal');
    const r = await calibrate.run(withDefaults(calibrate, {}), { model: artifact('qdq-model', path), float: artifact('onnx-model', BERT_ONNX) }, {}, ctx);
    expect(r!.metrics!.tensors).toBe(0);
    expect(readFileSync(join(ctx.outDir, 'model.onnx')).equals(readFileSync(path))).toBe(true);
  });
});

describe('qdq.insert plugin options', () => {
  it('rejects an invalid exclude regular expression, naming it', async () => {
    const ctx = stepContext(root, 'qdq');
    await expect(qdqInsert.run(withDefaults(qdqInsert, { exclude: { nodes: ['layer.(0'] } }), { model: artifact('onnx-model', BERT_ONNX) }, {}, ctx)).rejects.toThrow(/invalid regular expression "layer\.\(0"/);
  });

  it('exclude by op type and by node name, through the plugin, and reports residual Adds and mode', async () => {
    const ctx = stepContext(root, 'qdq');
    const r = await qdqInsert.run(
      withDefaults(qdqInsert, { exclude: { ops: ['Gemm'], nodes: ['attention/self'] }, residualAdd: true }),
      { model: artifact('onnx-model', BERT_ONNX) },
      {},
      ctx,
    );
    const m = r!.metrics!;
    // 32 MatMuls − 4 × (Q, K, V, Q·Kᵀ, P·V) under attention/self = 12; no Gemm.
    expect(m.quantizedNodes).toBe(12);
    expect(m.residualAdds).toBe(8);
    expect(m.mode).toBe('static');
    expect((m.skipped as unknown[]).length).toBe(20);
  });
});

describe('qdq.insert exclude patterns that match nothing', () => {
  it('a misspelt exclude pattern (matching no node) is EXCLUDE_NO_MATCH naming the pattern and the closest node names, not a silent full quantization', async () => {
    const ctx = stepContext(root, 'qdq');
    const names = (await readModelWithData(BERT_ONNX)).graph.node.filter((n) => n.opType === 'Gemm' || n.opType === 'MatMul').map((n) => n.name ?? '');
    const classifier = names.find((n) => /classifier/.test(n));
    expect(classifier).toBeDefined();
    const err = await qdqInsert.run(withDefaults(qdqInsert, { exclude: { nodes: ['clasifier'] } }), { model: artifact('onnx-model', BERT_ONNX) }, {}, ctx).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string; diagnostics?: { hint?: string }[] },
    );
    expect(err?.code).toBe('EXCLUDE_NO_MATCH');
    expect(err!.message).toContain('"clasifier" matches no node');
    expect(err!.message).toContain(classifier!);
    expect(err!.diagnostics?.[0]?.hint).toContain('qrun inspect');
  });

  it('a pattern that matches a node of any op type is accepted', async () => {
    const ctx = stepContext(root, 'qdq');
    await expect(qdqInsert.run(withDefaults(qdqInsert, { exclude: { nodes: ['classifier'] } }), { model: artifact('onnx-model', BERT_ONNX) }, {}, ctx)).resolves.toBeTruthy();
  });
});
