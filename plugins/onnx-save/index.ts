// onnx.save — the deployable model: checked to decode and to load in onnxruntime, written with
// deterministic bytes (protobufjs encodes in field order; inputs are themselves deterministic).
import { join } from 'node:path';
import type { Plugin } from '../../src/engine/plugin.ts';
import { onnxSaveMetrics } from './metrics.ts';
import { createSession, ORT_VERSION } from '../../src/runtime/session.ts';
import { sha256File } from '../../src/util/hash.ts';
import { readModelGraph, writeModelFile } from '../../src/runtime/model-file.ts';

export interface OnnxSaveOptions {
  /** Key/values stored in the model's metadata_props (e.g. the recipe name). */
  metadata: Record<string, string>;
}

const onnxSave: Plugin<OnnxSaveOptions> = {
  name: 'onnx.save',
  version: '1.0.0',
  description: 'Write the final model (verified to load in onnxruntime) with its sha256',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      metadata: { type: 'object', additionalProperties: { type: 'string' }, default: {}, description: "key/values written into the model's metadata_props (an existing key is replaced)", examples: [{ owner: 'ml-platform', dataset: 'langid-v3' }] },
    },
  },
  inputs: { model: { kind: ['qdq-model', 'onnx-model'] } },
  outputs: { model: { kind: { sameAs: 'model' }, path: 'model.onnx' } },
  metrics: onnxSaveMetrics,
  async fingerprint() {
    return { onnxruntime: ORT_VERSION };
  },
  // onnxruntime opens the written model to prove it loads; no number it computes reaches an output.
  cpuKernels: () => ({ dependent: false, why: 'onnxruntime only checks that the saved model loads; the bytes and metrics come from the graph' }),
  async run(options, inputs, _sources, ctx) {
    // Only metadata changes: the graph is read, and the weights go from the input's files straight
    // into the output's (one file, or model.onnx.data beside it past protobuf's 2 GiB limit), never
    // all in memory.
    const model = await readModelGraph(inputs.model!.path);
    for (const [key, value] of Object.entries(options.metadata).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const existing = model.metadataProps.find((p) => p.key === key);
      if (existing) existing.value = value;
      else model.metadataProps.push({ key, value });
    }
    const file = join(ctx.outDir, 'model.onnx');
    const written = await writeModelFile(model, file);
    ctx.emit({ type: 'progress', message: 'checking the model loads in onnxruntime' });
    const session = await createSession(file, { optimization: 'basic' });
    await session.release();
    const ops: Record<string, number> = {};
    for (const n of model.graph.node) ops[n.opType] = (ops[n.opType] ?? 0) + 1;
    return {
      metrics: {
        bytes: written.bytes,
        sha256: await sha256File(file),
        ...(written.dataFile ? { externalDataBytes: written.dataBytes, externalTensors: written.externalTensors } : {}),
        nodes: model.graph.node.length,
        ops,
      },
    };
  },
};

export default onnxSave;
