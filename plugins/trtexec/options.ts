// Options of the `trtexec` step (the recipe's `with:`). The schema is the contract ajv checks and
// fills defaults from; TrtexecOptions is what run() sees after that. Flag names and meanings follow
// TensorRT 10's trtexec (https://docs.nvidia.com/deeplearning/tensorrt/latest/reference/command-line-programs.html).

/** `best` lets TensorRT pick any precision per layer (--best); the others are network-level flags. */
export type Precision = 'int8' | 'fp16' | 'fp32' | 'best';

/**
 * One optimisation-profile point. `batch` and `sequence` name the first and second dynamic axes of
 * every input ([batch, sequence] for a transformer); any other key names an ONNX dim_param
 * directly (e.g. `past_sequence: 64`) and wins over the positional rule.
 */
export type ShapePoint = { batch?: number; sequence?: number } & Record<string, number>;

export interface BenchShape {
  batch: number;
  sequence: number;
}

export interface TrtexecOptions {
  precision: Precision[];
  stronglyTyped: boolean;
  /** Points the recipe gives; the ones it leaves out are derived (see derive-shapes.ts). */
  shapes: { min?: ShapePoint; opt?: ShapePoint; max?: ShapePoint };
  /** The shapes the engine will mostly run at: the largest is the `opt` point when none is given. */
  benchShapes: BenchShape[];
  /** The batch axis of the derived `max` point (and what a Triton max_batch_size may reach). */
  maxBatchSize: number;
  workspaceMiB?: number;
  timingCache: boolean;
  optimizationLevel?: number;
  skipInference: boolean;
  verbose: boolean;
  /** --exportTimes / --exportProfile / --exportLayerInfo, each to a JSON file in the step output. */
  exportTimes: boolean;
  exportProfile: boolean;
  exportLayerInfo: boolean;
  extraArgs: string[];
  trtexec?: string;
}

/** Defaults in one place: the schema publishes them and withDefaults() applies them. */
export const DEFAULTS = {
  precision: ['int8', 'fp16'] as Precision[],
  stronglyTyped: false,
  // The bench step's default grid: an engine tuned for what the report measures.
  benchShapes: [
    { batch: 1, sequence: 32 },
    { batch: 1, sequence: 128 },
    { batch: 8, sequence: 128 },
  ] as BenchShape[],
  maxBatchSize: 32,
  timingCache: true,
  skipInference: false,
  verbose: false,
  exportTimes: false,
  exportProfile: false,
  exportLayerInfo: false,
  extraArgs: [] as string[],
};

const shapePoint = {
  type: 'object',
  description: 'Sizes of the dynamic axes: batch, sequence, or an ONNX dim_param name.',
  properties: {
    batch: { type: 'integer', minimum: 1, description: 'size of the batch axis' },
    sequence: { type: 'integer', minimum: 1, description: 'size of the sequence axis (tokens)' },
  },
  additionalProperties: { type: 'integer', minimum: 1 },
  examples: [{ batch: 8, sequence: 128 }],
};

/** Flags qrun sets itself (inputs, outputs, the profile); passing them again would fight ours. */
const OWN_FLAGS = ['onnx', 'saveEngine', 'loadEngine', 'minShapes', 'optShapes', 'maxShapes', 'timingCacheFile', 'exportTimes', 'exportProfile', 'exportLayerInfo'];

export const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    precision: {
      type: 'array',
      description:
        'Precisions TensorRT may choose kernels in. int8 → --int8 (a QDQ model needs it and no calibration cache: the scales are in the graph), fp16 → --fp16, best → --best (every precision), fp32 is always allowed.',
      items: { enum: ['int8', 'fp16', 'fp32', 'best'] },
      minItems: 1,
      uniqueItems: true,
      default: DEFAULTS.precision,
    },
    stronglyTyped: {
      type: 'boolean',
      description: 'Pass --stronglyTyped: tensor types come from the ONNX graph and `precision` is not passed (TensorRT rejects precision flags in strongly typed mode).',
      default: DEFAULTS.stronglyTyped,
    },
    shapes: {
      type: 'object',
      description:
        'The optimisation profile (--minShapes/--optShapes/--maxShapes) for every graph input with a dynamic axis. A point left out is derived: min = batch 1 × sequence 1, opt = the largest of benchShapes, max = maxBatchSize × the model\'s longest sequence (config.json max_position_embeddings, capped by the tokenizer\'s model_max_length; 512 without an hf input).',
      additionalProperties: false,
      properties: { min: shapePoint, opt: shapePoint, max: shapePoint },
      examples: [{ opt: { batch: 8, sequence: 128 }, max: { batch: 32, sequence: 256 } }],
    },
    benchShapes: {
      type: 'array',
      minItems: 1,
      description: 'The batch × sequence shapes the engine is for (e.g. the bench step\'s `shapes`); the largest (by batch × sequence) is the derived `opt` point.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['batch', 'sequence'],
        properties: { batch: { type: 'integer', minimum: 1, description: 'batch size' }, sequence: { type: 'integer', minimum: 1, description: 'sequence length in tokens' } },
      },
      default: DEFAULTS.benchShapes,
    },
    maxBatchSize: {
      type: 'integer',
      minimum: 1,
      description: 'The batch of the derived `max` point; a Triton model serving this engine may set max_batch_size up to it.',
      default: DEFAULTS.maxBatchSize,
    },
    workspaceMiB: { type: 'integer', minimum: 1, description: 'Workspace memory pool limit: --memPoolSize=workspace:<n>M.', examples: [4096] },
    timingCache: {
      type: 'boolean',
      description: 'Write the builder timing cache (--timingCacheFile) as the optional output `timingCache`.',
      default: DEFAULTS.timingCache,
    },
    optimizationLevel: { type: 'integer', minimum: 0, maximum: 5, description: '--builderOptimizationLevel (TensorRT default 3).', examples: [5] },
    skipInference: {
      type: 'boolean',
      description: 'Pass --skipInference: build the engine only, without the timing run (no latency metrics).',
      default: DEFAULTS.skipInference,
    },
    verbose: { type: 'boolean', description: 'Pass --verbose (the log grows to many MB).', default: DEFAULTS.verbose },
    exportTimes: { type: 'boolean', description: '--exportTimes=times.json: every timed inference (output `times`).', default: DEFAULTS.exportTimes },
    exportProfile: {
      type: 'boolean',
      description: '--exportProfile=profile.json with --separateProfileRun: per-layer times from a separate run, so the summary timings are not slowed by the profiler (output `profile`).',
      default: DEFAULTS.exportProfile,
    },
    exportLayerInfo: {
      type: 'boolean',
      description: '--exportLayerInfo=layers.json with --profilingVerbosity=detailed: each engine layer with its tensor formats and precisions (output `layerInfo`).',
      default: DEFAULTS.exportLayerInfo,
    },
    extraArgs: {
      type: 'array',
      description: 'More trtexec flags, passed last and verbatim; relative paths land in the step output folder.',
      items: { type: 'string', not: { pattern: `^--(${OWN_FLAGS.join('|')})(=|$)` } },
      default: DEFAULTS.extraArgs,
      examples: [['--useCudaGraph', '--noDataTransfers']],
    },
    trtexec: {
      type: 'string',
      // Absolute, or a bare name looked up on PATH: the fingerprint has no recipe folder to resolve a relative path from.
      pattern: '^(/|[A-Za-z]:[\\\\/]|[^/\\\\]+$)',
      description: 'The trtexec binary: an absolute path or a name on PATH; else $QRUN_TRTEXEC, else trtexec on PATH.',
      examples: ['/usr/src/tensorrt/bin/trtexec'],
    },
  },
} as const;

/** Applies the defaults ajv would apply, so run() is safe on options that did not pass through ajv. */
export function withDefaults(options: Partial<TrtexecOptions>): TrtexecOptions {
  return {
    ...options,
    precision: options.precision ?? DEFAULTS.precision,
    stronglyTyped: options.stronglyTyped ?? DEFAULTS.stronglyTyped,
    shapes: options.shapes ?? {},
    benchShapes: options.benchShapes ?? DEFAULTS.benchShapes,
    maxBatchSize: options.maxBatchSize ?? DEFAULTS.maxBatchSize,
    timingCache: options.timingCache ?? DEFAULTS.timingCache,
    skipInference: options.skipInference ?? DEFAULTS.skipInference,
    verbose: options.verbose ?? DEFAULTS.verbose,
    exportTimes: options.exportTimes ?? DEFAULTS.exportTimes,
    exportProfile: options.exportProfile ?? DEFAULTS.exportProfile,
    exportLayerInfo: options.exportLayerInfo ?? DEFAULTS.exportLayerInfo,
    extraArgs: options.extraArgs ?? DEFAULTS.extraArgs,
  };
}
