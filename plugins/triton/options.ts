// Options of the `triton` step. Field meanings are Triton's model configuration
// (https://github.com/triton-inference-server/server/blob/main/docs/user_guide/model_configuration.md).

export interface DynamicBatching {
  /** Batch sizes the scheduler runs at once when it can form them (each ≤ maxBatchSize). */
  preferredBatchSize: number[];
  /** How long a request may wait for others to batch with. */
  maxQueueDelayMicroseconds: number;
}

/**
 * Session options of Triton's onnxruntime backend (its README, "Model Config Options"): the graph
 * optimisation level goes to `optimization { graph { level } }`, the rest to `parameters`.
 */
export interface OnnxRuntimeSettings {
  /** basic → level -1, extended → level 1; all (onnxruntime's own default) writes nothing. */
  graphOptimization?: 'basic' | 'extended' | 'all';
  intraOpThreads?: number;
  interOpThreads?: number;
  executionMode?: 'sequential' | 'parallel';
  memArena?: boolean;
  memPattern?: boolean;
}

export interface TritonOptions {
  /** Model name, which is also its folder name in the repository. */
  name?: string;
  maxBatchSize: number;
  dynamicBatching: DynamicBatching | false;
  instanceGroup: { count: number; kind: 'KIND_CPU' | 'KIND_GPU' };
  backend: 'onnxruntime';
  /** ONNX Runtime's TensorRT execution provider for the onnxruntime model (GPU instances). */
  tensorrtAccelerator: { precisionMode: 'FP32' | 'FP16' | 'INT8'; maxWorkspaceSizeBytes?: number } | false;
  onnxruntime: OnnxRuntimeSettings;
  /**
   * With an hf-model input that has tokenizer.json: a Python-backend tokenizer model and an ensemble
   * text → tokens → model → outputs, so clients can send raw text.
   */
  textEnsemble: boolean;
}

export const DEFAULTS = {
  maxBatchSize: 8,
  dynamicBatching: { preferredBatchSize: [] as number[], maxQueueDelayMicroseconds: 100 },
  instanceGroup: { count: 1, kind: 'KIND_GPU' as const },
  backend: 'onnxruntime' as const,
  tensorrtAccelerator: false as const,
  onnxruntime: {} as OnnxRuntimeSettings,
  textEnsemble: true,
};

/** Triton finds a model by its folder name: keep it a plain, portable file name. */
export const MODEL_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$';

export const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: {
      type: 'string',
      pattern: MODEL_NAME_PATTERN,
      description: 'Model name and folder (letters, digits, _ . -); default: the model file name without .onnx. The TensorRT model is <name>_trt.',
      examples: ['bert_langid'],
    },
    maxBatchSize: {
      type: 'integer',
      minimum: 0,
      description: 'max_batch_size: > 0 drops the first (batch) axis from every dims and lets Triton batch; 0 = no batching, dims are the full shapes.',
      default: DEFAULTS.maxBatchSize,
    },
    dynamicBatching: {
      description: 'dynamic_batching settings, or false for none (it is left out anyway when maxBatchSize is 0).',
      anyOf: [
        { const: false },
        {
          type: 'object',
          additionalProperties: false,
          properties: {
            preferredBatchSize: { type: 'array', items: { type: 'integer', minimum: 1 }, uniqueItems: true, description: 'batch sizes the scheduler tries to form (preferred_batch_size); empty: as large as possible', examples: [[4, 8]] },
            maxQueueDelayMicroseconds: { type: 'integer', minimum: 0, description: 'how long a request may wait for others to batch with (max_queue_delay_microseconds)', examples: [500] },
          },
        },
      ],
      default: DEFAULTS.dynamicBatching,
    },
    instanceGroup: {
      type: 'object',
      additionalProperties: false,
      description: 'instance_group: how many copies of the model run, on CPU or GPU (the TensorRT model is always KIND_GPU).',
      properties: {
        count: { type: 'integer', minimum: 1, default: DEFAULTS.instanceGroup.count, description: 'copies of the model per device' },
        kind: { enum: ['KIND_CPU', 'KIND_GPU'], default: DEFAULTS.instanceGroup.kind, description: 'run the ONNX model on CPU or GPU' },
      },
      default: DEFAULTS.instanceGroup,
    },
    backend: { enum: ['onnxruntime'], description: 'Backend of the ONNX model.', default: DEFAULTS.backend },
    tensorrtAccelerator: {
      description: "Ask the onnxruntime backend to run the ONNX model through ONNX Runtime's TensorRT execution provider (optimization.execution_accelerators), or false.",
      anyOf: [
        { const: false },
        {
          type: 'object',
          additionalProperties: false,
          required: ['precisionMode'],
          properties: {
            precisionMode: { enum: ['FP32', 'FP16', 'INT8'], description: 'precision_mode of the TensorRT execution provider (INT8 for a QDQ model)' },
            maxWorkspaceSizeBytes: { type: 'integer', minimum: 1, description: 'max_workspace_size_bytes of the TensorRT execution provider' },
          },
        },
      ],
      default: DEFAULTS.tensorrtAccelerator,
      examples: [{ precisionMode: 'INT8', maxWorkspaceSizeBytes: 1073741824 }],
    },
    onnxruntime: {
      type: 'object',
      additionalProperties: false,
      description: "Session options of the onnxruntime backend: graph optimisation level (optimization.graph.level) and the backend's parameters.",
      properties: {
        graphOptimization: { enum: ['basic', 'extended', 'all'], description: 'basic → level -1, extended → level 1, all → onnxruntime\'s default (nothing written).' },
        intraOpThreads: { type: 'integer', minimum: 0, description: 'intra_op_thread_count (0 = onnxruntime picks).' },
        interOpThreads: { type: 'integer', minimum: 0, description: 'inter_op_thread_count (used with executionMode: parallel).' },
        executionMode: { enum: ['sequential', 'parallel'], description: 'execution_mode 0 or 1.' },
        memArena: { type: 'boolean', description: 'enable_mem_arena.' },
        memPattern: { type: 'boolean', description: 'enable_mem_pattern.' },
      },
      default: DEFAULTS.onnxruntime,
      examples: [{ graphOptimization: 'extended', intraOpThreads: 4, interOpThreads: 2, executionMode: 'parallel', memArena: true, memPattern: false }],
    },
    textEnsemble: {
      type: 'boolean',
      description: 'With an hf-model input holding tokenizer.json: add <name>_tokenizer (Python backend) and <name>_ensemble (text in, model outputs out).',
      default: DEFAULTS.textEnsemble,
    },
  },
} as const;

/** Defaults as ajv applies them, plus the ones ajv cannot apply inside anyOf. */
export function withDefaults(options: Partial<TritonOptions>): TritonOptions {
  const batching = options.dynamicBatching ?? DEFAULTS.dynamicBatching;
  return {
    ...options,
    maxBatchSize: options.maxBatchSize ?? DEFAULTS.maxBatchSize,
    dynamicBatching: batching === false ? false : { ...DEFAULTS.dynamicBatching, ...batching },
    instanceGroup: { ...DEFAULTS.instanceGroup, ...options.instanceGroup },
    backend: options.backend ?? DEFAULTS.backend,
    tensorrtAccelerator: options.tensorrtAccelerator ?? DEFAULTS.tensorrtAccelerator,
    onnxruntime: options.onnxruntime ?? DEFAULTS.onnxruntime,
    textEnsemble: options.textEnsemble ?? DEFAULTS.textEnsemble,
  };
}
