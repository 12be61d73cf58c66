// int64 graph inputs (input_ids, attention_mask, token_type_ids from every HF exporter) become int32,
// with a Cast to int64 right inside the graph so the rest of it is unchanged. TensorRT works in
// int32 (before TensorRT 10 it cast int64 weights and inputs down with a warning, and int32 bindings
// halve the copy); Triton's and the client's tensors then are int32 as well. Exact for values in
// int32 range (token ids and masks are).
// Cast: https://onnx.ai/onnx/operators/onnx__Cast.html
import { intAttribute, uniqueName, usedNames } from '../../../src/onnx/graph.ts';
import { DataType, type ModelProto, type NodeProto } from '../../../src/onnx/types.ts';
import type { GraphRule, RuleOutcome } from './rule.ts';

export const int64InputsToInt32: GraphRule = {
  name: 'int64-inputs-to-int32',
  version: '1',
  description: 'Graph inputs of type int64 become int32, cast back to int64 inside the graph',
  apply(model: ModelProto): RuleOutcome {
    const g = model.graph;
    if (g.node.some((n) => n.attribute.some((a) => a.g || (a as { graphs?: unknown[] }).graphs?.length))) {
      return { applied: false, reason: 'the graph has subgraphs (If/Loop/Scan), whose references this rule does not rewrite' };
    }
    const inits = new Set(g.initializer.map((t) => t.name ?? ''));
    const outputs = new Set(g.output.map((o) => o.name));
    const targets = g.input.filter((i) => !inits.has(i.name) && i.type?.tensorType?.elemType === DataType.INT64 && !outputs.has(i.name));
    if (targets.length === 0) return { applied: false, reason: 'no graph input is int64' };
    const used = usedNames(g);
    const casts: NodeProto[] = [];
    for (const input of targets) {
      const inner = uniqueName(used, `${input.name}_int64`);
      for (const n of g.node) n.input = n.input.map((s) => (s === input.name ? inner : s));
      casts.push({ input: [input.name], output: [inner], name: uniqueName(used, `${input.name}/Cast_to_int64`), opType: 'Cast', attribute: [intAttribute('to', DataType.INT64)] });
      input.type!.tensorType!.elemType = DataType.INT32;
    }
    g.node = [...casts, ...g.node];
    return { applied: true, changes: targets.length, detail: `${targets.map((t) => t.name).join(', ')} now int32` };
  },
};
