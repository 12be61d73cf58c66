// An example external plugin: counts the operator types of an ONNX model and writes them as JSON.
// Use it from a recipe with `uses: ../examples/plugins/op-histogram` (a path relative to the recipe).
// It imports qrun's ONNX reader (the graph only: its weights, in the file or in external data beside
// it, are not needed to count operators); a plugin published to npm would depend on `qrun` instead.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Plugin } from '../../../src/engine/plugin.ts';
import { readModelGraph } from '../../../src/runtime/model-file.ts';

interface Options {
  /** Only count these domains ('' is the default ONNX domain); empty = all. */
  domains: string[];
}

const opHistogram: Plugin<Options> = {
  name: 'op-histogram',
  version: '1.0.0',
  description: 'Count operator types in an ONNX model',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { domains: { type: 'array', items: { type: 'string' }, default: [] } },
  },
  inputs: { model: { kind: ['qdq-model', 'onnx-model'] } },
  outputs: { histogram: { kind: 'file', path: 'ops.json' } },
  // What run() returns: gates on these names are checked before anything runs.
  metrics: {
    nodes: { unit: 'count', better: 'none', description: 'Nodes in the graph.' },
    opTypes: { unit: 'count', better: 'none', description: 'Distinct operator types counted.' },
    quantizeLinear: { unit: 'count', better: 'none', description: 'QuantizeLinear nodes.' },
  },
  async run(options, inputs, _sources, ctx) {
    const model = await readModelGraph(inputs.model!.path);
    const counts: Record<string, number> = {};
    for (const node of model.graph.node) {
      const domain = node.domain ?? '';
      if (options.domains.length && !options.domains.includes(domain)) continue;
      const key = domain ? `${domain}.${node.opType}` : node.opType;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    const sorted = Object.fromEntries(Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : 1)));
    ctx.emit({ type: 'log', level: 'info', message: `${model.graph.node.length} nodes, ${Object.keys(sorted).length} op types` });
    await writeFile(join(ctx.outDir, 'ops.json'), JSON.stringify(sorted, null, 2) + '\n');
    return { metrics: { nodes: model.graph.node.length, opTypes: Object.keys(sorted).length, quantizeLinear: sorted.QuantizeLinear ?? 0 } };
  },
};

export default opHistogram;
