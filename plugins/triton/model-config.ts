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
  /** A labels file beside config.pbtxt, one label per class (outputs only; Triton's classification extension). */
  labelFilename?: string;
}

/** One step of an ensemble: the model it runs and how its tensors map to the ensemble's. */
export interface EnsembleStep {
  modelName: string;
  /** -1: the latest version. */
  modelVersion: number;
  /** Model input name → ensemble tensor name. */
  inputMap: Record<string, string>;
  /** Model output name → ensemble tensor name. */
  outputMap: Record<string, string>;
}

export interface ModelConfig {
  name: string;
  platform?: string;
  backend?: string;
  maxBatchSize: number;
  input: TensorConfig[];
  output: TensorConfig[];
  optimization?: { graphLevel?: number; gpuExecutionAccelerator?: { name: string; parameters: Record<string, string> }[] };
  dynamicBatching?: { preferredBatchSize: number[]; maxQueueDelayMicroseconds: number };
  ensembleScheduling?: { step: EnsembleStep[] };
  /** Empty for an ensemble, which has no instances of its own. */
  instanceGroup: { count: number; kind: 'KIND_CPU' | 'KIND_GPU' }[];
  /** Model parameters (map<string, ModelParameter>): backend settings, or the tokenizer's. */
  parameters?: Record<string, string>;
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
export function runtimeInputs(model: ModelProto): ValueInfoProto[] {
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
  /** Class names by index: a labels file is attached to the output with that many classes. */
  labels?: string[];
}

/** The labels file written beside config.pbtxt when the model config has id2label. */
export const LABELS_FILE = 'labels.txt';

/**
 * The output a labels file belongs to: the one whose last axis has one entry per class (the
 * logits of a classifier). None, or more than one, and no labels are attached.
 */
export function classificationOutput(outputs: TensorConfig[], classes: number): TensorConfig | undefined {
  const hits = outputs.filter((o) => o.dims[o.dims.length - 1] === classes && /^TYPE_(FP16|FP32|FP64|BF16)$/.test(o.dataType));
  return hits.length === 1 ? hits[0] : undefined;
}

/** Onnxruntime-backend parameters ("Model Config Options" of its README), sorted by key when written. */
function onnxRuntimeParameters(s: TritonOptions['onnxruntime']): Record<string, string> {
  const p: Record<string, string> = {};
  if (s.intraOpThreads !== undefined) p.intra_op_thread_count = String(s.intraOpThreads);
  if (s.interOpThreads !== undefined) p.inter_op_thread_count = String(s.interOpThreads);
  if (s.executionMode !== undefined) p.execution_mode = s.executionMode === 'parallel' ? '1' : '0';
  if (s.memArena !== undefined) p.enable_mem_arena = s.memArena ? '1' : '0';
  if (s.memPattern !== undefined) p.enable_mem_pattern = s.memPattern ? '1' : '0';
  return p;
}

/**
 * optimization.graph.level as the onnxruntime backend reads it: -1 → ORT_ENABLE_BASIC, 1 →
 * ORT_ENABLE_EXTENDED, anything else (or no graph section) → ORT_ENABLE_ALL. Its README documents
 * 2 as "disabled" in newer releases, so "all" writes no level at all rather than a number whose
 * meaning changed.
 */
const GRAPH_LEVEL = { basic: -1, extended: 1, all: undefined } as const;

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
  if (spec.runtime === 'onnxruntime') {
    const level = options.onnxruntime.graphOptimization ? GRAPH_LEVEL[options.onnxruntime.graphOptimization] : undefined;
    if (level !== undefined) config.optimization = { graphLevel: level, ...config.optimization };
    const parameters = onnxRuntimeParameters(options.onnxruntime);
    if (Object.keys(parameters).length) config.parameters = parameters;
  }
  if (spec.labels) {
    const target = classificationOutput(config.output, spec.labels.length);
    if (target) target.labelFilename = LABELS_FILE;
  }
  // Dynamic batching needs a batch axis: with max_batch_size 0 there is nothing to batch.
  if (options.dynamicBatching && maxBatchSize > 0) {
    const { preferredBatchSize, maxQueueDelayMicroseconds } = options.dynamicBatching;
    if (preferredBatchSize.some((s) => s > maxBatchSize)) throw tritonErrors.preferredBatchSize(preferredBatchSize, maxBatchSize);
    config.dynamicBatching = { preferredBatchSize: [...preferredBatchSize].sort((a, b) => a - b), maxQueueDelayMicroseconds };
  }
  return config;
}
