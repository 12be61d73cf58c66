// BatchNormalization after a Conv, in inference form, folded into the Conv's weights and bias:
//   y = γ · (conv(x, W) + b − μ) / √(σ² + ε) + β  =  conv(x, W · k) + (b − μ) · k + β,  k = γ / √(σ² + ε)
// per output channel m (W's axis 0). TensorRT fuses Conv+BN itself in float, but with explicit
// quantization the Q/DQ on the weight must see the folded weight, or the int8 scales are those of the
// unfolded one (pytorch-quantization and ORT's quantizer fold first for the same reason).
// BatchNormalization: https://onnx.ai/onnx/operators/onnx__BatchNormalization.html
// Conv: https://onnx.ai/onnx/operators/onnx__Conv.html
import { attr, indexGraph, uniqueName, usedNames } from '../../../src/onnx/graph.ts';
import { makeFloatTensor, tensorDims, tensorToFloat32 } from '../../../src/onnx/tensor.ts';
import { DataType, toNumber, type ModelProto, type NodeProto } from '../../../src/onnx/types.ts';
import type { GraphRule, RuleOutcome } from './rule.ts';

export const foldBatchnorm: GraphRule = {
  name: 'fold-batchnorm',
  version: '1',
  description: 'Fold BatchNormalization that follows a Conv into the Conv weights and bias',
  apply(model: ModelProto): RuleOutcome {
    const g = model.graph;
    const bns = g.node.filter((n) => n.opType === 'BatchNormalization' && (n.domain ?? '') === '');
    if (bns.length === 0) return { applied: false, reason: 'the graph has no BatchNormalization' };
    const index = indexGraph(g);
    const outputs = new Set(g.output.map((o) => o.name));
    const isFloatInit = (name: string | undefined) => !!name && index.initializers.get(name)?.dataType === DataType.FLOAT;
    const reasons = new Set<string>();
    const targets: { conv: NodeProto; bn: NodeProto }[] = [];
    for (const bn of bns) {
      const conv = index.producers.get(bn.input[0]!);
      if (!conv || conv.opType !== 'Conv' || (conv.domain ?? '') !== '') {
        reasons.add('BatchNormalization not fed by a Conv');
        continue;
      }
      if ((index.consumers.get(conv.output[0]!) ?? []).length !== 1 || outputs.has(conv.output[0]!)) {
        reasons.add('the Conv output is read by other nodes too');
        continue;
      }
      if (bn.output.filter(Boolean).length !== 1 || toNumber(attr(bn, 'training_mode')?.i) === 1) {
        reasons.add('BatchNormalization in training mode');
        continue;
      }
      if (![conv.input[1], ...bn.input.slice(1, 5)].every(isFloatInit) || (conv.input[2] && !isFloatInit(conv.input[2]))) {
        reasons.add('weights or statistics are not float constants');
        continue;
      }
      targets.push({ conv, bn });
    }
    if (targets.length === 0) return { applied: false, reason: [...reasons].join('; ') };

    const used = usedNames(g);
    const drop = new Set<NodeProto>();
    const replaced = new Set<string>();
    for (const { conv, bn } of targets) {
      const w = index.initializers.get(conv.input[1]!)!;
      const dims = tensorDims(w);
      const m = dims[0]!;
      const inner = dims.slice(1).reduce((a, b) => a * b, 1);
      const [gamma, beta, mean, variance] = bn.input.slice(1, 5).map((n) => tensorToFloat32(index.initializers.get(n!)!)) as [Float32Array, Float32Array, Float32Array, Float32Array];
      const epsilon = attr(bn, 'epsilon')?.f ?? 1e-5;
      const weights = tensorToFloat32(w);
      const bias = conv.input[2] ? tensorToFloat32(index.initializers.get(conv.input[2])!) : new Float32Array(m);
      const newW = new Float32Array(weights.length);
      const newB = new Float32Array(m);
      for (let c = 0; c < m; c++) {
        // Float64 maths, rounded once to float32 at the end.
        const k = gamma[c]! / Math.sqrt(variance[c]! + epsilon);
        for (let i = 0; i < inner; i++) newW[c * inner + i] = weights[c * inner + i]! * k;
        newB[c] = (bias[c]! - mean[c]!) * k + beta[c]!;
      }
      const wName = uniqueName(used, `${conv.input[1]}_bn_folded`);
      const bName = uniqueName(used, `${conv.input[2] || `${conv.name || conv.output[0]}_bias`}_bn_folded`);
      g.initializer.push(makeFloatTensor(wName, dims, newW), makeFloatTensor(bName, [m], newB));
      replaced.add(conv.input[1]!);
      if (conv.input[2]) replaced.add(conv.input[2]);
      for (const s of bn.input.slice(1, 5)) replaced.add(s);
      conv.input = [conv.input[0]!, wName, bName];
      // The Conv takes over the BatchNormalization's output name (its consumers and value_info stay right).
      const convOut = conv.output[0]!;
      conv.output[0] = bn.output[0]!;
      g.valueInfo = g.valueInfo.filter((v) => v.name !== convOut);
      drop.add(bn);
    }
    g.node = g.node.filter((n) => !drop.has(n));
    // Initializers nothing reads any more (a weight shared with another Conv stays).
    const read = new Set([...g.node.flatMap((n) => n.input), ...g.output.map((o) => o.name)]);
    const gone = new Set([...replaced].filter((n) => !read.has(n)));
    g.initializer = g.initializer.filter((t) => !gone.has(t.name ?? ''));
    g.input = g.input.filter((i) => !gone.has(i.name));
    return { applied: true, changes: targets.length, detail: `${targets.length} BatchNormalization folded into Conv` };
  },
};
