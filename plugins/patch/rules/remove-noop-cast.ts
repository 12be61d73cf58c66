// A Cast to the type its input already has is a no-op that exporters leave behind (the dynamo
// exporter especially). It hides patterns from placement and fusion and costs a copy. The rule
// rewires consumers to the Cast's input when the input type is known for sure (graph input,
// initializer, value_info, a Constant, or an earlier Cast); a Cast that produces a graph output stays.
// Cast: https://onnx.ai/onnx/operators/onnx__Cast.html
import { attrInt } from '../../../src/onnx/graph.ts';
import type { ModelProto } from '../../../src/onnx/types.ts';
import { knownElemType } from './cumsum-int-to-float.ts';
import type { GraphRule, RuleOutcome } from './rule.ts';

export const removeNoopCast: GraphRule = {
  name: 'remove-noop-cast',
  version: '1',
  description: 'Remove Cast nodes whose input already has the target type',
  apply(model: ModelProto): RuleOutcome {
    const g = model.graph;
    if (g.node.some((n) => n.attribute.some((a) => a.g || (a as { graphs?: unknown[] }).graphs?.length))) {
      return { applied: false, reason: 'the graph has subgraphs (If/Loop/Scan), whose references this rule does not rewrite' };
    }
    const casts = g.node.filter((n) => n.opType === 'Cast' && (n.domain ?? '') === '');
    if (casts.length === 0) return { applied: false, reason: 'the graph has no Cast' };
    const outputs = new Set(g.output.map((o) => o.name));
    const constantType = new Map<string, number>();
    for (const n of g.node) {
      const t = n.opType === 'Constant' ? n.attribute.find((a) => a.name === 'value')?.t : undefined;
      if (t?.dataType) constantType.set(n.output[0]!, t.dataType);
    }
    const targets = casts.filter((c) => {
      if (outputs.has(c.output[0]!)) return false;
      const from = constantType.get(c.input[0]!) ?? knownElemType(model, c.input[0]!);
      return from !== undefined && from === attrInt(c, 'to', 0);
    });
    if (targets.length === 0) return { applied: false, reason: `none of the ${casts.length} Cast node(s) is known to cast to its input's own type` };
    const rename = new Map(targets.map((c) => [c.output[0]!, c.input[0]!]));
    const resolve = (s: string) => {
      let cur = s;
      while (rename.has(cur)) cur = rename.get(cur)!;
      return cur;
    };
    const drop = new Set(targets);
    g.node = g.node.filter((n) => !drop.has(n));
    for (const n of g.node) n.input = n.input.map((s) => (s ? resolve(s) : s));
    g.valueInfo = g.valueInfo.filter((v) => !rename.has(v.name));
    return { applied: true, changes: targets.length, detail: `${targets.length} no-op Cast node(s) removed` };
  },
};
