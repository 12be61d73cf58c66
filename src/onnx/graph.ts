// Small, explicit helpers over a GraphProto. They index; they never reorder or rewrite by themselves.
import { toNumber, type AttributeProto, type GraphProto, type NodeProto, type TensorProto } from './types.ts';

export interface GraphIndex {
  initializers: Map<string, TensorProto>;
  producers: Map<string, NodeProto>;
  consumers: Map<string, NodeProto[]>;
  graphInputs: Set<string>;
  graphOutputs: Set<string>;
}

export function indexGraph(graph: GraphProto): GraphIndex {
  const initializers = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const producers = new Map<string, NodeProto>();
  const consumers = new Map<string, NodeProto[]>();
  for (const node of graph.node) {
    for (const out of node.output) if (out) producers.set(out, node);
    for (const inp of node.input) {
      if (!inp) continue;
      const list = consumers.get(inp);
      if (list) list.push(node);
      else consumers.set(inp, [node]);
    }
  }
  return {
    initializers,
    producers,
    consumers,
    graphInputs: new Set(graph.input.map((v) => v.name)),
    graphOutputs: new Set(graph.output.map((v) => v.name)),
  };
}

/** Every name used in the graph (tensors and nodes), so inserted names never collide. */
export function usedNames(graph: GraphProto): Set<string> {
  const names = new Set<string>();
  for (const t of graph.initializer) if (t.name) names.add(t.name);
  for (const v of [...graph.input, ...graph.output, ...graph.valueInfo]) names.add(v.name);
  for (const n of graph.node) {
    if (n.name) names.add(n.name);
    for (const s of [...n.input, ...n.output]) if (s) names.add(s);
  }
  return names;
}

export function uniqueName(used: Set<string>, base: string): string {
  let name = base;
  for (let i = 1; used.has(name); i++) name = `${base}_${i}`;
  used.add(name);
  return name;
}

export function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

export function attrInt(node: NodeProto, name: string, fallback: number): number {
  const a = attr(node, name);
  return a?.i !== undefined && a.i !== null ? toNumber(a.i) : fallback;
}

export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = attr(node, name);
  return a?.ints?.map(toNumber);
}

export function intAttribute(name: string, value: number): AttributeProto {
  return { name, type: 2, i: value };
}

/** Kahn's algorithm, keeping the original order among ready nodes so output is deterministic. */
export function topologicalOrder(graph: GraphProto): NodeProto[] {
  const available = new Set<string>([...graph.input.map((v) => v.name), ...graph.initializer.map((t) => t.name ?? '')]);
  available.add('');
  const pending = [...graph.node];
  const ordered: NodeProto[] = [];
  while (pending.length) {
    const before = pending.length;
    for (let i = 0; i < pending.length; ) {
      const node = pending[i]!;
      if (node.input.every((s) => available.has(s))) {
        ordered.push(node);
        for (const o of node.output) available.add(o);
        pending.splice(i, 1);
      } else i++;
    }
    if (pending.length === before) {
      const missing = pending[0]!.input.filter((s) => !available.has(s));
      throw new Error(`graph is not a DAG or has dangling inputs: node ${pending[0]!.name} needs ${missing.join(', ')}`);
    }
  }
  return ordered;
}

export function opsetVersion(model: { opsetImport: { domain?: string; version: number | { toNumber(): number } }[] }, domain = ''): number {
  const entry = model.opsetImport.find((o) => (o.domain ?? '') === domain);
  return entry ? toNumber(entry.version as never) : 0;
}
