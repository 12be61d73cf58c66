// TensorRT's CumSum supports float types only, while RoBERTa-family exports compute position ids
// with an integer CumSum (`torch.cumsum(mask.int(), dim=1)`). The rule wraps each integer CumSum in
// Cast(to=FLOAT) … Cast(to=original type); exact for integer counts below 2^24.
// CumSum: https://onnx.ai/onnx/operators/onnx__CumSum.html
import { indexGraph, uniqueName, usedNames, intAttribute, attrInt } from '../../../src/onnx/graph.ts';
import { DataType, DATA_TYPE_NAMES, type ModelProto, type NodeProto } from '../../../src/onnx/types.ts';
import type { GraphRule, RuleOutcome } from './rule.ts';

const INTEGER_TYPES = new Set<number>([DataType.INT32, DataType.INT64, DataType.INT16, DataType.INT8, DataType.UINT8]);

/** Element type of a tensor from value_info, graph inputs or its producing Cast, if known. */
export function knownElemType(model: ModelProto, tensor: string): number | undefined {
  const g = model.graph;
  const vi = [...g.valueInfo, ...g.input, ...g.output].find((v) => v.name === tensor);
  const t = vi?.type?.tensorType?.elemType;
  if (t) return t;
  const init = g.initializer.find((i) => i.name === tensor);
  if (init?.dataType) return init.dataType;
  const producer = g.node.find((n) => n.output.includes(tensor));
  if (producer?.opType === 'Cast') return attrInt(producer, 'to', 0) || undefined;
  return undefined;
}

export const cumsumIntToFloat: GraphRule = {
  name: 'cumsum-int-to-float',
  version: '1',
  description: 'Integer CumSum → Cast to float, CumSum, Cast back (TensorRT supports float CumSum only)',
  apply(model: ModelProto): RuleOutcome {
    const g = model.graph;
    const cumsums = g.node.filter((n) => n.opType === 'CumSum' && (n.domain ?? '') === '');
    if (cumsums.length === 0) return { applied: false, reason: 'the graph has no CumSum' };
    const targets = cumsums
      .map((n) => ({ node: n, type: knownElemType(model, n.input[0]!) }))
      .filter((t): t is { node: NodeProto; type: number } => t.type !== undefined && INTEGER_TYPES.has(t.type));
    if (targets.length === 0) return { applied: false, reason: `the graph's ${cumsums.length} CumSum node(s) are not on a known integer type` };
    const used = usedNames(g);
    const index = indexGraph(g);
    void index;
    for (const { node, type } of targets) {
      const base = node.name || node.output[0]!;
      const castIn = uniqueName(used, `${base}/cast_to_float`);
      const floatOut = uniqueName(used, `${base}/float_out`);
      const origOut = node.output[0]!;
      const at = g.node.indexOf(node);
      const castInNode: NodeProto = { input: [node.input[0]!], output: [castIn], name: castIn, opType: 'Cast', attribute: [intAttribute('to', DataType.FLOAT)] };
      const castOutNode: NodeProto = { input: [floatOut], output: [origOut], name: `${base}/cast_back`, opType: 'Cast', attribute: [intAttribute('to', type)] };
      used.add(castOutNode.name!);
      node.input[0] = castIn;
      node.output[0] = floatOut;
      g.node.splice(at, 1, castInNode, node, castOutNode);
      // value_info for the old output stays right (it is still the integer type after the cast back).
    }
    return { applied: true, changes: targets.length, detail: `${targets.length} CumSum on ${[...new Set(targets.map((t) => DATA_TYPE_NAMES[t.type]))].join('/')} now computed in float` };
  },
};
