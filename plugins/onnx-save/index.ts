// onnx.save — the deployable model: checked to decode and to load in onnxruntime, written with
// deterministic bytes (protobufjs encodes in field order; inputs are themselves deterministic).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Plugin } from '../../src/engine/plugin.ts';
import { encodeModel, readModel } from '../../src/onnx/model-io.ts';
import { createSession, ORT_VERSION } from '../../src/runtime/session.ts';
import { sha256 } from '../../src/util/hash.ts';

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
      metadata: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
    },
  },
  inputs: { model: { kind: ['qdq-model', 'onnx-model'] } },
  outputs: { model: { kind: { sameAs: 'model' }, path: 'model.onnx' } },
  async fingerprint() {
    return { onnxruntime: ORT_VERSION };
  },
  async run(options, inputs, _sources, ctx) {
    const model = await readModel(inputs.model!.path);
    for (const [key, value] of Object.entries(options.metadata).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const existing = model.metadataProps.find((p) => p.key === key);
      if (existing) existing.value = value;
      else model.metadataProps.push({ key, value });
    }
    const bytes = encodeModel(model);
    ctx.emit({ type: 'progress', message: 'checking the model loads in onnxruntime' });
    const session = await createSession(bytes, { optimization: 'basic' });
    await session.release();
    await writeFile(join(ctx.outDir, 'model.onnx'), bytes);
    const ops: Record<string, number> = {};
    for (const n of model.graph.node) ops[n.opType] = (ops[n.opType] ?? 0) + 1;
    return { metrics: { bytes: bytes.byteLength, sha256: sha256(bytes), nodes: model.graph.node.length, ops } };
  },
};

export default onnxSave;
