// A tiny but real ONNX text classifier for tests of the deployment steps (trtexec, triton): the same
// inputs and outputs as an exported BERT, in four nodes. onnxruntime runs it.
//   input_ids, attention_mask: int64 [batch, sequence]
//   logits = MatMul(ReduceMean(Cast(input_ids * attention_mask, float), axis 1), W[1, 2]): float [batch, 2]
// Shared by plugins/trtexec and plugins/triton tests; it belongs in tests/helpers once that exists.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeModel } from '../../../src/onnx/model-io.ts';
import { makeFloatTensor } from '../../../src/onnx/tensor.ts';
import { AttributeType, DataType, type Dimension, type ModelProto, type ValueInfoProto } from '../../../src/onnx/types.ts';

export function tensorInfo(name: string, elemType: number, dims: (number | string)[]): ValueInfoProto {
  const dim: Dimension[] = dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

export interface TinyModelOptions {
  /** Names of the dynamic axes (a BERT export from optimum says batch_size / sequence_length). */
  batch?: string;
  sequence?: string;
  /** Extra graph inputs (e.g. a static-shaped one), unused by the nodes, as an export may have. */
  extraInputs?: ValueInfoProto[];
}

export function tinyClassifier(opts: TinyModelOptions = {}): ModelProto {
  const batch = opts.batch ?? 'batch';
  const sequence = opts.sequence ?? 'sequence';
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'qrun-tests',
    metadataProps: [],
    graph: {
      name: 'tiny_classifier',
      node: [
        { opType: 'Mul', input: ['input_ids', 'attention_mask'], output: ['masked'], name: 'mask', attribute: [] },
        { opType: 'Cast', input: ['masked'], output: ['masked_f'], name: 'to_float', attribute: [{ name: 'to', type: AttributeType.INT, i: DataType.FLOAT }] },
        {
          opType: 'ReduceMean',
          input: ['masked_f'],
          output: ['pooled'],
          name: 'pool',
          attribute: [
            { name: 'axes', type: AttributeType.INTS, ints: [1] },
            { name: 'keepdims', type: AttributeType.INT, i: 1 },
          ],
        },
        { opType: 'MatMul', input: ['pooled', 'classifier.weight'], output: ['logits'], name: 'classifier', attribute: [] },
      ],
      initializer: [makeFloatTensor('classifier.weight', [1, 2], new Float32Array([0.5, -0.25]))],
      input: [
        tensorInfo('input_ids', DataType.INT64, [batch, sequence]),
        tensorInfo('attention_mask', DataType.INT64, [batch, sequence]),
        ...(opts.extraInputs ?? []),
      ],
      output: [tensorInfo('logits', DataType.FLOAT, [batch, 2])],
      valueInfo: [],
    },
  };
}

export async function writeTinyClassifier(dir: string, opts: TinyModelOptions = {}, file = 'model.onnx'): Promise<string> {
  const path = join(dir, file);
  await writeFile(path, encodeModel(tinyClassifier(opts)));
  return path;
}
