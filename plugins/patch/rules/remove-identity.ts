// Identity nodes are no-ops left by exporters; they hide patterns from QDQ placement and fusion.
// The rule reconnects each consumer to the Identity's input. An Identity that produces a graph
// output is kept (its name is part of the model's interface).
// Identity: https://onnx.ai/onnx/operators/onnx__Identity.html
import type { ModelProto } from '../../../src/onnx/types.ts';
import type { GraphRule, RuleOutcome } from './rule.ts';

export const removeIdentity: GraphRule = {
  name: 'remove-identity',
  version: '1',
  description: 'Remove no-op Identity nodes, rewiring their consumers',
  apply(model: ModelProto): RuleOutcome {
    const g = model.graph;
    if (g.node.some((n) => n.attribute.some((a) => a.g || (a as { graphs?: unknown[] }).graphs?.length))) {
      return { applied: false, reason: 'the graph has subgraphs (If/Loop/Scan), whose references this rule does not rewrite' };
    }
    const outputs = new Set(g.output.map((o) => o.name));
    const targets = g.node.filter((n) => n.opType === 'Identity' && (n.domain ?? '') === '' && !outputs.has(n.output[0]!));
    if (targets.length === 0) return { applied: false, reason: 'no removable Identity node' };
    const rename = new Map<string, string>();
    for (const n of targets) rename.set(n.output[0]!, n.input[0]!);
    const resolveName = (s: string) => {
      let cur = s;
      while (rename.has(cur)) cur = rename.get(cur)!;
      return cur;
    };
    const drop = new Set(targets);
    g.node = g.node.filter((n) => !drop.has(n));
    for (const n of g.node) n.input = n.input.map((s) => (s ? resolveName(s) : s));
    g.valueInfo = g.valueInfo.filter((v) => !rename.has(v.name));
    return { applied: true, changes: targets.length, detail: `${targets.length} Identity node(s) removed` };
  },
};
