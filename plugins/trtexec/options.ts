// Options of the `trtexec` step (the recipe's `with:`). The schema is the contract ajv checks and
// fills defaults from; TrtexecOptions is what run() sees after that. Flag names and meanings follow
// TensorRT 10's trtexec (https://docs.nvidia.com/deeplearning/tensorrt/latest/reference/command-line-programs.html).

export type Precision = 'int8' | 'fp16' | 'fp32';

/**
 * One optimisation-profile point. `batch` and `sequence` name the first and second dynamic axes of
 * every input ([batch, sequence] for a transformer); any other key names an ONNX dim_param
 * directly (e.g. `past_sequence: 64`) and wins over the positional rule.
 */
export type ShapePoint = { batch?: number; sequence?: number } & Record<string, number>;

export interface TrtexecOptions {
  precision: Precision[];
  stronglyTyped: boolean;
  shapes: { min: ShapePoint; opt: ShapePoint; max: ShapePoint };
  workspaceMiB?: number;
  timingCache: boolean;
  optimizationLevel?: number;
  skipInference: boolean;
  verbose: boolean;
  extraArgs: string[];
  trtexec?: string;
}

/** Defaults in one place: the schema publishes them and withDefaults() applies them. */
export const DEFAULTS = {
  precision: ['int8', 'fp16'] as Precision[],
  stronglyTyped: false,
  shapes: {
    min: { batch: 1, sequence: 16 },
    opt: { batch: 8, sequence: 128 },
    max: { batch: 32, sequence: 256 },
  },
  timingCache: true,
  skipInference: false,
  verbose: false,
  extraArgs: [] as string[],
};

const shapePoint = (fallback: ShapePoint) => ({
  type: 'object',
  description: 'Sizes of the dynamic axes: batch, sequence, or an ONNX dim_param name.',
  properties: {
    batch: { type: 'integer', minimum: 1 },
    sequence: { type: 'integer', minimum: 1 },
  },
  additionalProperties: { type: 'integer', minimum: 1 },
  default: fallback,
});

export const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    precision: {
      type: 'array',
      description:
        'Precisions TensorRT may choose kernels in. int8 → --int8 (a QDQ model needs it and no calibration cache: the scales are in the graph), fp16 → --fp16, fp32 is always allowed.',
      items: { enum: ['int8', 'fp16', 'fp32'] },
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
      description: 'The optimisation profile (--minShapes/--optShapes/--maxShapes) for every graph input with a dynamic axis.',
      additionalProperties: false,
      properties: {
        min: shapePoint(DEFAULTS.shapes.min),
        opt: shapePoint(DEFAULTS.shapes.opt),
        max: shapePoint(DEFAULTS.shapes.max),
      },
      default: DEFAULTS.shapes,
    },
    workspaceMiB: { type: 'integer', minimum: 1, description: 'Workspace memory pool limit: --memPoolSize=workspace:<n>M.' },
    timingCache: {
      type: 'boolean',
      description: 'Write the builder timing cache (--timingCacheFile) as the optional output `timingCache`.',
      default: DEFAULTS.timingCache,
    },
    optimizationLevel: { type: 'integer', minimum: 0, maximum: 5, description: '--builderOptimizationLevel (TensorRT default 3).' },
    skipInference: {
      type: 'boolean',
      description: 'Pass --skipInference: build the engine only, without the timing run (no latency metrics).',
      default: DEFAULTS.skipInference,
    },
    verbose: { type: 'boolean', description: 'Pass --verbose (the log grows to many MB).', default: DEFAULTS.verbose },
    extraArgs: {
      type: 'array',
      description: 'More trtexec flags, passed last and verbatim; relative paths land in the step output folder.',
      items: { type: 'string', not: { pattern: '^--(onnx|saveEngine|loadEngine)(=|$)' } },
      default: DEFAULTS.extraArgs,
    },
    trtexec: {
      type: 'string',
      // Absolute, or a bare name looked up on PATH: the fingerprint has no recipe folder to resolve a relative path from.
      pattern: '^(/|[A-Za-z]:[\\\\/]|[^/\\\\]+$)',
      description: 'The trtexec binary: an absolute path or a name on PATH; else $QRUN_TRTEXEC, else trtexec on PATH.',
    },
  },
} as const;

/** Applies the defaults ajv would apply, so run() is safe on options that did not pass through ajv. */
export function withDefaults(options: Partial<TrtexecOptions>): TrtexecOptions {
  const shapes = options.shapes ?? DEFAULTS.shapes;
  return {
    ...options,
    precision: options.precision ?? DEFAULTS.precision,
    stronglyTyped: options.stronglyTyped ?? DEFAULTS.stronglyTyped,
    shapes: {
      min: shapes.min ?? DEFAULTS.shapes.min,
      opt: shapes.opt ?? DEFAULTS.shapes.opt,
      max: shapes.max ?? DEFAULTS.shapes.max,
    },
    timingCache: options.timingCache ?? DEFAULTS.timingCache,
    skipInference: options.skipInference ?? DEFAULTS.skipInference,
    verbose: options.verbose ?? DEFAULTS.verbose,
    extraArgs: options.extraArgs ?? DEFAULTS.extraArgs,
  };
}
