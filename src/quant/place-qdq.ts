// QDQ placement for TensorRT's explicit quantization, which also fuses well on onnxruntime's CPU EP.
// - Weights (constant inputs of MatMul/Gemm): stored as int8 initializers, symmetric, per output
//   channel, behind a DequantizeLinear with `axis` (TensorRT: "weights quantized per channel,
//   activations per tensor"; https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/work-quantized-types.html).
// - Activations (every other float input, including both inputs of the attention MatMuls Q·Kᵀ and
//   P·V): a QuantizeLinear → DequantizeLinear pair per consumer. Sharing one pair between the Q, K
//   and V projections lets onnxruntime fuse only some of them into MatMulIntegerToFloat.
//   Scales start at 1 and are written by the calibrate step.
import { indexGraph, attrInt, uniqueName, usedNames } from '../onnx/graph.ts';
import { makeFloatTensor, makeInt8Tensor, makeUint8Tensor, tensorDims, tensorToFloat32 } from '../onnx/tensor.ts';
import { DataType, type ModelProto, type NodeProto, type TensorProto } from '../onnx/types.ts';
import { quantizeWeightsPerChannel, quantizeWeightsPerTensor } from './scale-math.ts';

export interface QdqPlacementOptions {
  ops: string[];
  excludeOps: string[];
  /** Regular expressions on node names. */
  excludeNodes: string[];
  activations: 'int8' | 'uint8';
  weights: 'per-channel' | 'per-tensor';
  /** Quantize MatMuls whose both inputs are activations (attention scores and context). */
  attentionMatMuls: boolean;
}

export interface ActivationQuant {
  /** The float tensor that is quantized. */
  tensor: string;
  /** One scale / zero-point initializer per consumer (same values after calibration). */
  scales: string[];
  zeroPoints: string[];
  consumers: string[];
}

export interface QdqPlacement {
  quantizedNodes: string[];
  skippedNodes: { node: string; reason: string }[];
  weights: number;
  activations: ActivationQuant[];
}

const FLOAT_TYPES = new Set<number>([DataType.FLOAT]);

function elemTypeOf(model: ModelProto, tensor: string, init: Map<string, TensorProto>): number | undefined {
  const t = init.get(tensor);
  if (t) return t.dataType;
  const vi = [...model.graph.valueInfo, ...model.graph.input, ...model.graph.output].find((v) => v.name === tensor);
  return vi?.type?.tensorType?.elemType || undefined;
}

/** Which input indices of a node take QDQ: data inputs of MatMul/Gemm/Conv, never biases. */
function quantizableInputs(node: NodeProto): number[] {
  switch (node.opType) {
    case 'MatMul':
      return [0, 1];
    case 'Gemm':
    case 'Conv':
      return [0, 1];
    default:
      return [];
  }
}

/** Output-channel axis of a weight for per-channel scales. */
function weightAxis(node: NodeProto, inputIndex: number, dims: number[]): number | undefined {
  if (node.opType === 'MatMul' && inputIndex === 1) return dims.length - 1; // [.., K, N]: N
  if (node.opType === 'Gemm' && inputIndex === 1) return attrInt(node, 'transB', 0) ? 0 : 1;
  if (node.opType === 'Conv' && inputIndex === 1) return 0; // [M, C/group, kH, kW]
  return undefined;
}

export function placeQdqForTensorRT(model: ModelProto, opts: QdqPlacementOptions): QdqPlacement {
  const g = model.graph;
  const index = indexGraph(g);
  const used = usedNames(g);
  const excludeRes = opts.excludeNodes.map((r) => new RegExp(r));
  const placement: QdqPlacement = { quantizedNodes: [], skippedNodes: [], weights: 0, activations: [] };
  const activationByTensor = new Map<string, ActivationQuant>();
  const newInitializers: TensorProto[] = [];
  const quantizedWeights = new Map<string, string>(); // float weight name → DQ output name
  const replacedWeights = new Set<string>();
  const out: NodeProto[] = [];
  const actType = opts.activations === 'int8' ? DataType.INT8 : DataType.UINT8;

  for (const node of g.node) {
    const name = node.name || node.output[0]!;
    const eligible = opts.ops.includes(node.opType) && (node.domain ?? '') === '' && !opts.excludeOps.includes(node.opType);
    if (!eligible) {
      out.push(node);
      continue;
    }
    if (excludeRes.some((r) => r.test(name))) {
      placement.skippedNodes.push({ node: name, reason: 'excluded by name' });
      out.push(node);
      continue;
    }
    const inputs = quantizableInputs(node);
    const types = inputs.map((i) => elemTypeOf(model, node.input[i]!, index.initializers));
    if (types.some((t) => t !== undefined && !FLOAT_TYPES.has(t))) {
      placement.skippedNodes.push({ node: name, reason: 'input is not float32' });
      out.push(node);
      continue;
    }
    const constant = inputs.map((i) => index.initializers.has(node.input[i]!));
    if (!opts.attentionMatMuls && node.opType === 'MatMul' && !constant.some(Boolean)) {
      placement.skippedNodes.push({ node: name, reason: 'activation × activation MatMul (attentionMatMuls: false)' });
      out.push(node);
      continue;
    }
    const before: NodeProto[] = [];
    inputs.forEach((i, k) => {
      const tensor = node.input[i]!;
      if (constant[k]) {
        const w = index.initializers.get(tensor)!;
        const dims = tensorDims(w);
        const axis = weightAxis(node, i, dims);
        let dqOut = quantizedWeights.get(tensor);
        if (!dqOut) {
          const values = tensorToFloat32(w);
          const qName = uniqueName(used, `${tensor}_quantized`);
          const sName = uniqueName(used, `${tensor}_scale`);
          const zName = uniqueName(used, `${tensor}_zero_point`);
          dqOut = uniqueName(used, `${tensor}_dequantized`);
          const attrs = [];
          if (opts.weights === 'per-channel' && axis !== undefined && dims.length >= 2) {
            const { q, scales } = quantizeWeightsPerChannel(values, dims, axis);
            newInitializers.push(makeInt8Tensor(qName, dims, q), makeFloatTensor(sName, [scales.length], scales), makeInt8Tensor(zName, [scales.length], new Int8Array(scales.length)));
            attrs.push({ name: 'axis', type: 2, i: axis });
          } else {
            const { q, scale } = quantizeWeightsPerTensor(values);
            newInitializers.push(makeInt8Tensor(qName, dims, q), makeFloatTensor(sName, [], Float32Array.of(scale)), makeInt8Tensor(zName, [], new Int8Array(1)));
          }
          before.push({ input: [qName, sName, zName], output: [dqOut], name: uniqueName(used, `${tensor}/DequantizeLinear`), opType: 'DequantizeLinear', attribute: attrs });
          quantizedWeights.set(tensor, dqOut);
          replacedWeights.add(tensor);
          placement.weights++;
        }
        node.input[i] = dqOut;
        return;
      }
      // Each consumer gets its own Q/DQ pair *and* its own scale/zero-point initializers: with
      // shared initializers onnxruntime's common-subexpression elimination merges the pairs back
      // into one shared pair, and then fuses only some of the MatMuls (measured: 16 of 24).
      let act = activationByTensor.get(tensor);
      if (!act) {
        act = { tensor, scales: [], zeroPoints: [], consumers: [] };
        activationByTensor.set(tensor, act);
        placement.activations.push(act);
      }
      const scale = uniqueName(used, `${tensor}_scale_for_${name}`);
      const zeroPoint = uniqueName(used, `${tensor}_zero_point_for_${name}`);
      newInitializers.push(makeFloatTensor(scale, [], Float32Array.of(1)));
      newInitializers.push(actType === DataType.INT8 ? makeInt8Tensor(zeroPoint, [], new Int8Array(1)) : makeUint8Tensor(zeroPoint, [], new Uint8Array(1)));
      act.scales.push(scale);
      act.zeroPoints.push(zeroPoint);
      act.consumers.push(name);
      const qOut = uniqueName(used, `${tensor}_quantized_for_${name}`);
      const dqOut = uniqueName(used, `${tensor}_dequantized_for_${name}`);
      before.push(
        { input: [tensor, scale, zeroPoint], output: [qOut], name: uniqueName(used, `${name}/input_${i}/QuantizeLinear`), opType: 'QuantizeLinear', attribute: [] },
        { input: [qOut, scale, zeroPoint], output: [dqOut], name: uniqueName(used, `${name}/input_${i}/DequantizeLinear`), opType: 'DequantizeLinear', attribute: [] },
      );
      node.input[i] = dqOut;
    });
    out.push(...before, node);
    placement.quantizedNodes.push(name);
  }

  // Drop float weights nothing else reads any more (the int8 copy replaces them).
  const stillRead = new Set(out.flatMap((n) => n.input));
  for (const o of g.output) stillRead.add(o.name);
  const dropped = new Set([...replacedWeights].filter((w) => !stillRead.has(w)));
  g.initializer = [...g.initializer.filter((t) => !dropped.has(t.name ?? '')), ...newInitializers];
  // Exporters with keep_initializers_as_inputs list weights as graph inputs too; a dropped weight
  // must leave the inputs as well, or onnxruntime would ask for it to be fed.
  g.input = g.input.filter((i) => !dropped.has(i.name));
  g.node = out;
  return placement;
}
