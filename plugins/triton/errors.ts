// Failures of the triton step that the user can act on, in the form of src/errors.ts (a QrunError
// with a stable code and a hint); src/errors.ts has no factory that fits them yet.
import { QrunError } from '../../src/errors.ts';

const make = (code: string, message: string, hint: string) => new QrunError([{ code, message, hint }]);

export const tritonErrors = {
  notBatchable: (tensor: string, dims: number[], maxBatchSize: number) =>
    make(
      'TRITON_NOT_BATCHABLE',
      `maxBatchSize ${maxBatchSize} needs a dynamic first (batch) axis on every input and output, but "${tensor}" has shape [${dims.join(', ')}]`,
      'set `maxBatchSize: 0` (Triton then passes full shapes and does not batch), or export the model with a dynamic batch axis',
    ),
  noShape: (tensor: string) =>
    make(
      'TRITON_NO_SHAPE',
      `"${tensor}" has no shape in the ONNX graph, so its config.pbtxt dims cannot be written`,
      'export the model with shapes on its inputs and outputs (torch.onnx.export does; run ONNX shape inference otherwise)',
    ),
  unsupportedType: (tensor: string, onnxType: string) =>
    make('TRITON_DATA_TYPE', `"${tensor}" has ONNX type ${onnxType}, which Triton has no TYPE_* for`, 'cast the tensor to a supported type (a `patch` rule)'),
  preferredBatchSize: (sizes: number[], maxBatchSize: number) =>
    make(
      'TRITON_BATCHING',
      `dynamicBatching.preferredBatchSize [${sizes.join(', ')}] has sizes above maxBatchSize ${maxBatchSize}`,
      'every preferred batch size must be ≤ maxBatchSize',
    ),
};
