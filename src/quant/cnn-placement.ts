// Placement for convolution networks (issue 17 item 5), beside place-qdq.ts's TensorRT rules.
// - Which placement a model gets by default: a convolution network (at least two Convs, and no
//   attention or more Convs than MatMul/Gemm: ResNet, U-Net, FPN, ConvNeXt, PointPillars' backbone)
//   quantizes Conv, Gemm and MatMul inputs, its residual Adds and its Concats; a transformer (a ViT
//   has one Conv, its patch embedding, and attention) keeps MatMul and Gemm only, as before. Until
//   this, a ResNet with the defaults quantized only its classifier's Gemm.
// - Concat (NVIDIA's Lidar QAT tools' QuantConcat; TensorRT's explicit quantization): TensorRT
//   executes a Concat of int8 inputs in int8 and drops the requantization only when every input and
//   the output have the same scale; otherwise it requantizes each input. So a Concat whose output
//   feeds a quantized layer gets a Q/DQ pair on each input (placement), and after calibration those
//   pairs all take the scale of the pair that re-quantizes the Concat's output (shareConcatScales).
//   The Concat's output is exactly the union of its inputs, so that scale is the one a quantizer
//   shared by all inputs and the output, calibrated on all of them, would get (the Lidar tools share
//   one TensorQuantizer). The inputs' pairs to other consumers keep their own scale.
//   https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/work-quantized-types.html
import { indexGraph, type GraphIndex } from '../onnx/graph.ts';
import { makeFloatTensor, makeInt8Tensor, makeUint8Tensor, tensorToFloat32 } from '../onnx/tensor.ts';
import { DataType, type ModelProto, type NodeProto, type TensorProto } from '../onnx/types.ts';

export type ModelFamily = 'cnn' | 'transformer';

export interface DefaultPlacement {
  family: ModelFamily;
  ops: string[];
  residualAdd: boolean;
  concat: boolean;
  /** Node counts behind the decision (for the step's log). */
  counts: { conv: number; matmul: number };
}

const isDefaultDomain = (n: NodeProto) => (n.domain ?? '') === '';

/**
 * The placement a model gets when the recipe does not say: a convolution network has at least two
 * Conv nodes and either no attention (no MatMul of two activations: ResNet, U-Net, and ConvNeXt,
 * whose pointwise layers are MatMuls with weights) or more Convs than MatMul/Gemm nodes (a CNN
 * backbone with an attention head); anything else is a transformer.
 */
export function defaultPlacement(model: ModelProto): DefaultPlacement {
  const constants = new Set(model.graph.initializer.map((t) => t.name ?? ''));
  for (const n of model.graph.node) if (n.opType === 'Constant') constants.add(n.output[0]!);
  let conv = 0;
  let matmul = 0;
  let attention = false;
  for (const n of model.graph.node) {
    if (!isDefaultDomain(n)) continue;
    if (n.opType === 'Conv') conv++;
    else if (n.opType === 'MatMul' || n.opType === 'Gemm') {
      matmul++;
      if (n.opType === 'MatMul' && !constants.has(n.input[0]!) && !constants.has(n.input[1]!)) attention = true;
    }
  }
  const cnn = conv >= 2 && (!attention || conv > matmul);
  return cnn
    ? { family: 'cnn', ops: ['Conv', 'Gemm', 'MatMul'], residualAdd: true, concat: true, counts: { conv, matmul } }
    : { family: 'transformer', ops: ['MatMul', 'Gemm'], residualAdd: false, concat: false, counts: { conv, matmul } };
}

/**
 * Concat nodes whose inputs get Q/DQ pairs: every input a (non-constant) activation, and the output
 * read by a node that `quantized` says gets Q/DQ on that input. A Concat of shapes (int64, feeding a
 * Reshape) or one feeding an Add stays float.
 */
export function concatsToQuantize(model: ModelProto, quantized: (consumer: NodeProto, inputIndex: number) => boolean, index: GraphIndex = indexGraph(model.graph)): Set<NodeProto> {
  const out = new Set<NodeProto>();
  for (const n of model.graph.node) {
    if (n.opType !== 'Concat' || !isDefaultDomain(n) || n.input.length < 2) continue;
    if (n.input.some((t) => !t || index.initializers.has(t))) continue;
    const readers = index.consumers.get(n.output[0]!) ?? [];
    if (readers.some((c) => c.input.some((t, i) => t === n.output[0] && quantized(c, i)))) out.add(n);
  }
  return out;
}

interface PairParams {
  scale: string;
  zeroPoint: string;
}

/** The Q/DQ pair that produces `tensor` (a DequantizeLinear fed by a QuantizeLinear of an activation), or undefined. */
function pairProducing(index: GraphIndex, tensor: string): { q: NodeProto; dq: NodeProto } | undefined {
  const dq = index.producers.get(tensor);
  if (dq?.opType !== 'DequantizeLinear') return undefined;
  const q = index.producers.get(dq.input[0]!);
  if (q?.opType !== 'QuantizeLinear' || index.initializers.has(q.input[0]!)) return undefined;
  return { q, dq };
}

const paramsOf = (n: NodeProto): PairParams => ({ scale: n.input[1]!, zeroPoint: n.input[2] ?? '' });

function scalar(inits: Map<string, TensorProto>, name: string): number {
  const t = inits.get(name);
  return t ? tensorToFloat32(t)[0]! : 0;
}

export interface SharedConcat {
  node: string;
  /** The scale every input pair now has. */
  scale: number;
  zeroPoint: number;
  /** Where it came from: the pair re-quantizing the Concat's output, or the widest input range. */
  from: 'output' | 'inputs';
  inputs: number;
}

/**
 * After calibration: every Concat whose inputs all come out of Q/DQ pairs gets one scale and zero
 * point on all of them, that of the pair(s) quantizing its output where there is one, else the one
 * that covers every input's range (the largest int8 scale; for uint8 the union of the ranges). Edits
 * the scale / zero-point initializers of the Concat's input pairs in place; returns what it did.
 */
export function shareConcatScales(model: ModelProto): SharedConcat[] {
  const g = model.graph;
  const index = indexGraph(g);
  const pos = new Map(g.initializer.map((t, i) => [t.name ?? '', i]));
  const inits = index.initializers;
  const out: SharedConcat[] = [];
  for (const n of g.node) {
    if (n.opType !== 'Concat' || !isDefaultDomain(n)) continue;
    const pairs = n.input.map((t) => pairProducing(index, t));
    if (pairs.length < 2 || pairs.some((p) => !p)) continue;
    const inputParams = pairs.map((p) => paramsOf(p!.dq));
    const outputPair = (index.consumers.get(n.output[0]!) ?? []).find((c) => c.opType === 'QuantizeLinear');
    const zpType = inits.get(inputParams[0]!.zeroPoint)?.dataType ?? DataType.UINT8;
    let scale: number;
    let zeroPoint: number;
    let from: SharedConcat['from'];
    if (outputPair) {
      const p = paramsOf(outputPair);
      scale = scalar(inits, p.scale);
      zeroPoint = p.zeroPoint ? scalar(inits, p.zeroPoint) : 0;
      from = 'output';
    } else if (zpType === DataType.INT8) {
      scale = Math.max(...inputParams.map((p) => scalar(inits, p.scale)));
      zeroPoint = 0;
      from = 'inputs';
    } else {
      // uint8: the union of the inputs' representable ranges [(0 − zp)·s, (255 − zp)·s], with 0 in it.
      let lo = 0;
      let hi = 0;
      for (const p of inputParams) {
        const s = scalar(inits, p.scale);
        const zp = p.zeroPoint ? scalar(inits, p.zeroPoint) : 0;
        lo = Math.min(lo, -zp * s);
        hi = Math.max(hi, (255 - zp) * s);
      }
      scale = Math.fround((hi - lo) / 255) || 1;
      zeroPoint = Math.min(255, Math.max(0, Math.round(-lo / scale)));
      from = 'inputs';
    }
    for (const p of inputParams) {
      g.initializer[pos.get(p.scale)!] = makeFloatTensor(p.scale, [], Float32Array.of(scale));
      if (p.zeroPoint) {
        g.initializer[pos.get(p.zeroPoint)!] = zpType === DataType.INT8 ? makeInt8Tensor(p.zeroPoint, [], Int8Array.of(zeroPoint)) : makeUint8Tensor(p.zeroPoint, [], Uint8Array.of(zeroPoint));
      }
    }
    out.push({ node: n.name || n.output[0]!, scale: Math.fround(scale), zeroPoint, from, inputs: inputParams.length });
  }
  return out;
}
