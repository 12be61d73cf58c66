// The placement a model gets by default (convolution network or transformer) and Concats with one
// shared scale: on the zoo's graphs, and on a small U-Net-style graph run through the real
// qdq.insert and calibrate steps and onnxruntime.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import calibrate from '../../plugins/calibrate/index.ts';
import qdqInsert from '../../plugins/qdq-insert/index.ts';
import { BERT_ONNX } from '../../tests/helpers/bert-langid.ts';
import { floatTensor, model, node, run, valueInfo } from '../../tests/helpers/onnx-build.ts';
import { artifact, stepContext, withDefaults } from '../../tests/helpers/step-context.ts';
import { seededRandom, useTempDir } from '../../tests/helpers/temp.ts';
import { indexGraph } from '../onnx/graph.ts';
import { decodeModel, encodeModel } from '../onnx/model-io.ts';
import { makeFloatTensor, tensorToFloat32 } from '../onnx/tensor.ts';
import { DataType, type ModelProto } from '../onnx/types.ts';
import { defaultPlacement, shareConcatScales } from './cnn-placement.ts';

const root = useTempDir();
const rand = seededRandom(11);
const randoms = (n: number, scale = 1) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);
const ZOO = join(import.meta.dirname, '../../tests/fixtures/zoo');

describe('defaultPlacement', () => {
  it('a ResNet is a convolution network: Conv, Gemm, MatMul, residual Adds, Concats', () => {
    const p = defaultPlacement(decodeModel(readFileSync(join(ZOO, 'resnet/onnx/model.onnx'))));
    expect(p).toMatchObject({ family: 'cnn', ops: ['Conv', 'Gemm', 'MatMul'], residualAdd: true, concat: true });
  });

  it('a ConvNeXt-style network (depthwise Convs, pointwise MatMuls with weights, no attention) is a convolution network', () => {
    const m = model({
      nodes: [
        node('Conv', ['x', 'w1'], ['c1'], 'dw1', [{ name: 'group', type: 2, i: 4 }]),
        node('Transpose', ['c1'], ['t1'], 't1', [{ name: 'perm', type: 7, ints: [0, 2, 3, 1] }]),
        node('MatMul', ['t1', 'p1'], ['m1'], 'pw1'),
        node('MatMul', ['m1', 'p2'], ['m2'], 'pw2'),
        node('Transpose', ['m2'], ['t2'], 't2', [{ name: 'perm', type: 7, ints: [0, 3, 1, 2] }]),
        node('Conv', ['t2', 'w2'], ['c2'], 'dw2', [{ name: 'group', type: 2, i: 4 }]),
        node('Transpose', ['c2'], ['t3'], 't3', [{ name: 'perm', type: 7, ints: [0, 2, 3, 1] }]),
        node('MatMul', ['t3', 'p3'], ['m3'], 'pw3'),
        node('MatMul', ['m3', 'p4'], ['y'], 'pw4'),
      ],
      inputs: [valueInfo('x', DataType.FLOAT, [1, 4, 4, 4])],
      outputs: [valueInfo('y', DataType.FLOAT, [1, 4, 4, 4])],
      initializers: [
        makeFloatTensor('w1', [4, 1, 1, 1], randoms(4)),
        makeFloatTensor('w2', [4, 1, 1, 1], randoms(4)),
        ...['p1', 'p2', 'p3', 'p4'].map((n) => makeFloatTensor(n, [4, 4], randoms(16))),
      ],
    });
    expect(defaultPlacement(m)).toMatchObject({ family: 'cnn', counts: { conv: 2, matmul: 4 } });
  });

  it('a ViT (one patch Conv, many MatMuls) and BERT are transformers: MatMul and Gemm, as before', () => {
    for (const file of [join(ZOO, 'vit/onnx/model.onnx'), BERT_ONNX]) {
      const p = defaultPlacement(decodeModel(readFileSync(file)));
      expect(p, file).toMatchObject({ family: 'transformer', ops: ['MatMul', 'Gemm'], residualAdd: false, concat: false });
    }
  });
});

/**
 * U-Net-style: conv1 → relu (r1, 8×8) → conv2 stride 2 → relu → nearest upsample ×2 (up, 8×8);
 * Concat(r1 × 1, up) → conv3. r1 also feeds conv4 (its own pair, its own scale); a second Concat of
 * shapes (int64) feeds a Reshape and must stay float. The two Concat inputs differ in range (×1 vs
 * the larger branch), so unshared scales would differ.
 */
function tinyUnet(): ModelProto {
  const conv = (pads: number, strides = 1) => [
    { name: 'pads', type: 7, ints: [pads, pads, pads, pads] },
    { name: 'strides', type: 7, ints: [strides, strides] },
  ];
  return model({
    nodes: [
      node('Conv', ['x', 'w1', 'b1'], ['c1'], 'conv1', conv(1)),
      node('Relu', ['c1'], ['r1'], 'relu1'),
      node('Conv', ['r1', 'w2', 'b2'], ['c2'], 'conv2', conv(1, 2)),
      node('Relu', ['c2'], ['r2'], 'relu2'),
      node('Resize', ['r2', '', 'scales'], ['up'], 'upsample', [{ name: 'mode', type: 3, s: new TextEncoder().encode('nearest') }]),
      node('Concat', ['r1', 'up'], ['cat'], 'concat', [{ name: 'axis', type: 2, i: 1 }]),
      node('Conv', ['cat', 'w3', 'b3'], ['y'], 'conv3', conv(1)),
      node('Conv', ['r1', 'w4', 'b4'], ['z'], 'conv4', conv(0)),
      node('Shape', ['z'], ['zs'], 'shape'),
      node('Concat', ['zs', 'minus_one'], ['newshape'], 'shape_concat', [{ name: 'axis', type: 2, i: 0 }]),
      node('Reshape', ['z', 'flat_shape'], ['zf'], 'reshape'),
    ],
    inputs: [valueInfo('x', DataType.FLOAT, ['N', 3, 8, 8])],
    outputs: [valueInfo('y', DataType.FLOAT, ['N', 4, 8, 8]), valueInfo('zf', DataType.FLOAT, ['N', 256]), valueInfo('newshape', DataType.INT64, [5])],
    initializers: [
      makeFloatTensor('w1', [4, 3, 3, 3], randoms(108, 0.5)),
      makeFloatTensor('b1', [4], randoms(4, 0.1)),
      makeFloatTensor('w2', [4, 4, 3, 3], randoms(144, 1.5)),
      makeFloatTensor('b2', [4], randoms(4, 0.1)),
      makeFloatTensor('w3', [4, 8, 3, 3], randoms(288, 0.3)),
      makeFloatTensor('b3', [4], randoms(4, 0.1)),
      makeFloatTensor('w4', [4, 4, 1, 1], randoms(16, 0.5)),
      makeFloatTensor('b4', [4], randoms(4, 0.1)),
      makeFloatTensor('scales', [4], Float32Array.of(1, 1, 2, 2)),
      { name: 'minus_one', dims: [1], dataType: DataType.INT64, int64Data: [-1] } as never,
      { name: 'flat_shape', dims: [2], dataType: DataType.INT64, int64Data: [-1, 256] } as never,
    ],
  });
}

const samples = Array.from({ length: 6 }, () => randoms(3 * 64));

async function quantizedUnet(options: Record<string, unknown> = {}): Promise<{ fp32Path: string; qdqPath: string; qdq: ModelProto; metrics: Record<string, unknown>; calibrated: ModelProto; events: string[] }> {
  const fp32Path = join(root, `unet-${Math.random().toString(36).slice(2)}.onnx`);
  writeFileSync(fp32Path, encodeModel(tinyUnet()));
  const ctx = stepContext(root, 'qdq');
  const r = await qdqInsert.run(withDefaults(qdqInsert, options), { model: artifact('onnx-model', fp32Path) }, {}, ctx);
  const qdqPath = join(ctx.outDir, 'model.onnx');
  const tensors = join(root, 'calib.tensors.jsonl');
  const nested = (v: Float32Array) => Array.from({ length: 3 }, (_, c) => Array.from({ length: 8 }, (_, i) => Array.from(v.subarray(c * 64 + i * 8, c * 64 + i * 8 + 8))));
  writeFileSync(tensors, samples.map((s) => JSON.stringify({ x: nested(s) })).join('\n') + '\n');
  const cal = stepContext(root, 'cal');
  await calibrate.run(withDefaults(calibrate, { method: 'minmax' }), { model: artifact('qdq-model', qdqPath), float: artifact('onnx-model', fp32Path) }, { tensors }, cal);
  const calibrated = decodeModel(readFileSync(join(cal.outDir, 'model.onnx')));
  const events = cal.events.flatMap((e) => ('message' in e && typeof e.message === 'string' ? [e.message] : []));
  return { fp32Path, qdqPath, qdq: decodeModel(readFileSync(qdqPath)), metrics: r!.metrics as Record<string, unknown>, calibrated, events };
}

const scaleOf = (m: ModelProto, name: string) => tensorToFloat32(m.graph.initializer.find((t) => t.name === name)!)[0]!;

/** The scale of the Q/DQ pair producing `tensor` (the input of a node), or undefined. */
function pairScale(m: ModelProto, tensor: string): number | undefined {
  const index = indexGraph(m.graph);
  const dq = index.producers.get(tensor);
  return dq?.opType === 'DequantizeLinear' && !index.initializers.has(dq.input[0]!) ? scaleOf(m, dq.input[1]!) : undefined;
}

describe('a CNN with a Concat, with qdq.insert defaults', () => {
  it('every Conv, and the float Concat feeding a Conv, get Q/DQ; the shape Concat stays float', async () => {
    const { qdq, metrics } = await quantizedUnet();
    expect(metrics).toMatchObject({ placement: 'cnn', quantizedNodes: 4, concats: 1 });
    const index = indexGraph(qdq.graph);
    for (const conv of qdq.graph.node.filter((n) => n.opType === 'Conv')) {
      expect(index.producers.get(conv.input[0]!)?.opType, conv.name).toBe('DequantizeLinear');
      expect(index.producers.get(conv.input[1]!)?.opType, conv.name).toBe('DequantizeLinear');
    }
    const cat = qdq.graph.node.find((n) => n.name === 'concat')!;
    expect(cat.input.map((t) => index.producers.get(t)?.opType)).toEqual(['DequantizeLinear', 'DequantizeLinear']);
    const shapes = qdq.graph.node.find((n) => n.name === 'shape_concat')!;
    expect(shapes.input).toEqual(['zs', 'minus_one']);
  });

  it('after calibration the Concat inputs share the scale of its output; r1 keeps its own for conv4', async () => {
    const { calibrated: m, events } = await quantizedUnet();
    const cat = m.graph.node.find((n) => n.name === 'concat')!;
    const conv3 = m.graph.node.find((n) => n.name === 'conv3')!;
    const conv4 = m.graph.node.find((n) => n.name === 'conv4')!;
    const [a, b] = cat.input.map((t) => pairScale(m, t));
    const out = pairScale(m, conv3.input[0]!);
    expect(a).toBeDefined();
    expect([a, b]).toEqual([out, out]);
    const own = pairScale(m, conv4.input[0]!)!; // r1's range alone: smaller than the Concat's
    expect(own).toBeLessThan(out!);
    expect(events.some((e) => /1 Concat\(s\): inputs share the output's scale/.test(e))).toBe(true);
  });

  it('numerically: with shared scales the Concat inputs add no error (no requantization); with their own they do', async () => {
    const { fp32Path, calibrated } = await quantizedUnet();
    const feeds = { x: floatTensor(Array.from(samples[0]!), [1, 3, 8, 8]) };
    const ref = (await run(decodeModel(readFileSync(fp32Path)), feeds)).y!.data as Float32Array;
    const shared = (await run(calibrated, feeds)).y!.data as Float32Array;
    // The same model without the Concat input pairs: only conv3's input pair quantizes the Concat.
    const bypass = decodeModel(encodeModel(calibrated));
    const index = indexGraph(bypass.graph);
    const cat = bypass.graph.node.find((n) => n.name === 'concat')!;
    cat.input = cat.input.map((t) => index.producers.get(index.producers.get(t)!.input[0]!)!.input[0]!);
    const without = (await run(bypass, feeds)).y!.data as Float32Array;
    expect(Array.from(shared)).toEqual(Array.from(without)); // Q(DQ(Q(x))) = Q(x) at one scale
    // Each input at its own range (what calibrate wrote before sharing): a second rounding, other numbers.
    const own = decodeModel(encodeModel(calibrated));
    const oi = indexGraph(own.graph);
    const ocat = own.graph.node.find((n) => n.name === 'concat')!;
    const r1Scale = pairScale(own, own.graph.node.find((n) => n.name === 'conv4')!.input[0]!)!;
    const p0 = oi.producers.get(ocat.input[0]!)!;
    own.graph.initializer = own.graph.initializer.map((t) => (t.name === p0.input[1] ? makeFloatTensor(t.name!, [], Float32Array.of(r1Scale)) : t));
    const unshared = (await run(own, feeds)).y!.data as Float32Array;
    expect(Array.from(unshared)).not.toEqual(Array.from(shared));
    // And the quantized model is close to FP32.
    const range = Math.max(...Array.from(ref, Math.abs));
    let maxErr = 0;
    for (let i = 0; i < ref.length; i++) maxErr = Math.max(maxErr, Math.abs(ref[i]! - shared[i]!));
    expect(maxErr / range).toBeLessThan(0.05);
  });

  it('uint8 activations: the Concat inputs take the scale and zero point of the output pair', async () => {
    const { calibrated: m } = await quantizedUnet({ activations: 'uint8' });
    const index = indexGraph(m.graph);
    const cat = m.graph.node.find((n) => n.name === 'concat')!;
    const conv3 = m.graph.node.find((n) => n.name === 'conv3')!;
    const params = [...cat.input, conv3.input[0]!].map((t) => {
      const dq = index.producers.get(t)!;
      const zp = m.graph.initializer.find((x) => x.name === dq.input[2])!;
      expect(zp.dataType).toBe(DataType.UINT8);
      return [scaleOf(m, dq.input[1]!), tensorToFloat32(zp)[0]];
    });
    expect(params[0]).toEqual(params[2]);
    expect(params[1]).toEqual(params[2]);
  });

  it('shareConcatScales without an output pair takes the widest input (int8) and leaves other Concats alone', () => {
    const m = model({
      nodes: [
        node('QuantizeLinear', ['a', 'sa', 'za'], ['qa'], 'qa'),
        node('DequantizeLinear', ['qa', 'sa', 'za'], ['da'], 'da'),
        node('QuantizeLinear', ['b', 'sb', 'zb'], ['qb'], 'qb'),
        node('DequantizeLinear', ['qb', 'sb', 'zb'], ['db'], 'db'),
        node('Concat', ['da', 'db'], ['y'], 'cat', [{ name: 'axis', type: 2, i: 1 }]),
        node('Concat', ['a', 'db'], ['y2'], 'half', [{ name: 'axis', type: 2, i: 1 }]),
      ],
      inputs: [valueInfo('a', DataType.FLOAT, [1, 2]), valueInfo('b', DataType.FLOAT, [1, 2])],
      outputs: [valueInfo('y', DataType.FLOAT, [1, 4]), valueInfo('y2', DataType.FLOAT, [1, 4])],
      initializers: [
        makeFloatTensor('sa', [], Float32Array.of(0.5)),
        makeFloatTensor('sb', [], Float32Array.of(0.25)),
        { name: 'za', dims: [], dataType: DataType.INT8, int32Data: [0] } as never,
        { name: 'zb', dims: [], dataType: DataType.INT8, int32Data: [0] } as never,
      ],
    });
    expect(shareConcatScales(m)).toEqual([{ node: 'cat', scale: 0.5, zeroPoint: 0, from: 'inputs', inputs: 2 }]);
    expect([scaleOf(m, 'sa'), scaleOf(m, 'sb')]).toEqual([0.5, 0.5]);
  });
});
