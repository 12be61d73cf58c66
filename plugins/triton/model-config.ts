// ONNX graph + options → a Triton ModelConfig (the subset qrun writes). Names, data types and dims
// come from the graph's inputs and outputs, per Triton's model configuration guide:
// - with max_batch_size > 0 the full shape is [ -1 ] + dims, so the batch axis is dropped from dims;
// - variable-size axes are -1;
// - dims may not be empty: a tensor that is only the batch axis is written `dims: [ 1 ]` with
//   `reshape: { shape: [ ] }` (the guide's "Reshape" section).
import type { ModelProto, ValueInfoProto } from '../../src/onnx/types.ts';
import { DATA_TYPE_NAMES, DataType, toNumber } from '../../src/onnx/types.ts';
import { tritonErrors } from './errors.ts';
import type { TritonOptions } from './options.ts';

export interface TensorConfig {
  name: string;
  dataType: string;
  dims: number[];
  reshape?: { shape: number[] };
}

export interface ModelConfig {
  name: string;
  platform?: string;
  backend?: string;
  maxBatchSize: number;
  input: TensorConfig[];
  output: TensorConfig[];
  optimization?: { gpuExecutionAccelerator: { name: string; parameters: Record<string, string> }[] };
  dynamicBatching?: { preferredBatchSize: number[]; maxQueueDelayMicroseconds: number };
  instanceGroup: { count: number; kind: 'KIND_CPU' | 'KIND_GPU' }[];
}

/** ONNX TensorProto.DataType → Triton TYPE_* (the Datatypes table of the configuration guide). */
const TRITON_TYPES: Record<number, string> = {
  [DataType.BOOL]: 'TYPE_BOOL',
  [DataType.UINT8]: 'TYPE_UINT8',
  [DataType.UINT16]: 'TYPE_UINT16',
  [DataType.UINT32]: 'TYPE_UINT32',
  [DataType.UINT64]: 'TYPE_UINT64',
  [DataType.INT8]: 'TYPE_INT8',
  [DataType.INT16]: 'TYPE_INT16',
  [DataType.INT32]: 'TYPE_INT32',
  [DataType.INT64]: 'TYPE_INT64',
  [DataType.FLOAT16]: 'TYPE_FP16',
  [DataType.FLOAT]: 'TYPE_FP32',
  [DataType.DOUBLE]: 'TYPE_FP64',
  [DataType.STRING]: 'TYPE_STRING',
  [DataType.BFLOAT16]: 'TYPE_BF16',
};

/** Graph inputs fed at run time: initializers listed as inputs (an IR < 4 habit) are not. */
function runtimeInputs(model: ModelProto): ValueInfoProto[] {
  const initializers = new Set(model.graph.initializer.map((t) => t.name));
  return model.graph.input.filter((i) => !initializers.has(i.name));
}

export function tensorConfig(info: ValueInfoProto, maxBatchSize: number): TensorConfig {
  const tensorType = info.type?.tensorType;
  const elemType = tensorType?.elemType ?? 0;
  const dataType = TRITON_TYPES[elemType];
  if (!dataType) throw tritonErrors.unsupportedType(info.name, DATA_TYPE_NAMES[elemType] ?? `#${elemType}`);
  if (!tensorType?.shape) throw tritonErrors.noShape(info.name);
  // A dim_value > 0 is fixed; a dim_param or an unset dim is variable (-1).
  const full = tensorType.shape.dim.map((d) => (d.dimValue !== undefined && d.dimValue !== null && toNumber(d.dimValue) > 0 ? toNumber(d.dimValue) : -1));
  let dims = full;
  if (maxBatchSize > 0) {
    if (full.length === 0 || full[0] !== -1) throw tritonErrors.notBatchable(info.name, full, maxBatchSize);
    dims = full.slice(1);
  }
  return dims.length > 0 ? { name: info.name, dataType, dims } : { name: info.name, dataType, dims: [1], reshape: { shape: [] } };
}

export interface ModelConfigSpec {
  name: string;
  /** Which Triton backend serves the file in the version folder. */
  runtime: 'onnxruntime' | 'tensorrt';
}

export function buildModelConfig(model: ModelProto, spec: ModelConfigSpec, options: TritonOptions): ModelConfig {
  const { maxBatchSize } = options;
  const config: ModelConfig = {
    name: spec.name,
    // The configuration guide's spellings: `backend: "onnxruntime"` for ONNX models (model.onnx),
    // `platform: "tensorrt_plan"` for serialized TensorRT engines (model.plan).
    ...(spec.runtime === 'onnxruntime' ? { backend: options.backend } : { platform: 'tensorrt_plan' }),
    maxBatchSize,
    input: runtimeInputs(model).map((i) => tensorConfig(i, maxBatchSize)),
    output: model.graph.output.map((o) => tensorConfig(o, maxBatchSize)),
    // A TensorRT engine runs on the GPU only; the ONNX model goes where the options say.
    instanceGroup: [{ count: options.instanceGroup.count, kind: spec.runtime === 'tensorrt' ? 'KIND_GPU' : options.instanceGroup.kind }],
  };
  const accelerator = options.tensorrtAccelerator;
  if (spec.runtime === 'onnxruntime' && accelerator) {
    // Keys as the onnxruntime backend reads them (onnxruntime_backend README, "ONNX Runtime with TensorRT optimization").
    const parameters: Record<string, string> = { precision_mode: accelerator.precisionMode };
    if (accelerator.maxWorkspaceSizeBytes !== undefined) parameters.max_workspace_size_bytes = String(accelerator.maxWorkspaceSizeBytes);
    config.optimization = { gpuExecutionAccelerator: [{ name: 'tensorrt', parameters }] };
  }
  // Dynamic batching needs a batch axis: with max_batch_size 0 there is nothing to batch.
  if (options.dynamicBatching && maxBatchSize > 0) {
    const { preferredBatchSize, maxQueueDelayMicroseconds } = options.dynamicBatching;
    if (preferredBatchSize.some((s) => s > maxBatchSize)) throw tritonErrors.preferredBatchSize(preferredBatchSize, maxBatchSize);
    config.dynamicBatching = { preferredBatchSize: [...preferredBatchSize].sort((a, b) => a - b), maxQueueDelayMicroseconds };
  }
  return config;
}
