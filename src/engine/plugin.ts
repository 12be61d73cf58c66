// The plugin contract. A plugin is one kind of step (`uses:` in a recipe). It declares its options
// schema, its inputs and outputs as typed artifacts, an optional fingerprint (tool versions that
// change its results) and run(). It never prints: it reports through ctx.emit, and the UI and the
// report subscribe to those events.

/** Kinds of artifact that flow between steps. */
export type ArtifactKind =
  | 'hf-model'
  | 'torch-state'
  | 'onnx-model'
  | 'qdq-model'
  | 'dataset'
  | 'calib-stats'
  | 'qdq-plan'
  | 'engine'
  | 'triton-repo'
  | 'bench-result'
  | 'file'
  | 'folder';

/** An artifact as later steps see it: an absolute path in the cache store and its content digest. */
export interface Artifact {
  kind: ArtifactKind;
  path: string;
  sha256: string;
  /** Bytes on disk (a folder: the sum of its files). */
  size: number;
}

export interface InputSpec {
  /** One kind, or several accepted kinds (the latest earlier output of any of them is wired). */
  kind: ArtifactKind | ArtifactKind[];
  /** Optional inputs are wired when an earlier step produced one; otherwise left undefined. */
  optional?: boolean;
  description?: string;
}

export interface OutputSpec {
  /** The kind, or `{ sameAs: input }` for a step that passes its input's kind on (e.g. onnx.save). */
  kind: ArtifactKind | { sameAs: string };
  /** File or folder name inside the step's output folder. */
  path: string;
  /** An output that is written only in some configurations (e.g. an engine when trtexec exists). */
  optional?: boolean;
  description?: string;
}

export type StepEvent =
  /**
   * `phase`: the stage of a long step this belongs to ("latency 1×32 (shape 1/3)", "min/max pass,
   * 47 batches"); the terminal shows every message as it comes, plain and CI logs print one line
   * per phase (a progress without a phase is a phase of its own).
   */
  | { type: 'progress'; message: string; done?: number; total?: number; phase?: string }
  | { type: 'log'; level: 'info' | 'warn'; message: string };

export interface StepContext {
  stepId: string;
  /** Empty folder for this step's outputs; the engine moves it into the cache store after run(). */
  outDir: string;
  /** Folder of the recipe file: relative paths in options resolve from here. */
  recipeDir: string;
  /** Folder for scratch files that are deleted after the step (never cached). */
  tmpDir: string;
  /** Aborted on SIGINT: long loops check it and stop. */
  signal: AbortSignal;
  emit(event: StepEvent): void;
  /** Artifacts of other steps by `stepId.output`, for plugins that need a named earlier result. */
  artifactOf(ref: string): Artifact | undefined;
}

/** A source file or folder the step reads directly from the user's disk (e.g. the model directory). */
export interface SourceRef {
  path: string;
  /**
   * What the source is known as besides its content, when the step reports it: a hub model's
   * `org/name@commit`. It joins the key (KeyMaterial.revisions).
   */
  revision?: string;
  /** Where the recipe names it, for error messages. */
  location?: { file: string; line?: number; col?: number };
}

export interface StepResult {
  /** Metrics for the report and later steps (JSON only; stored in the cache entry). */
  metrics?: Record<string, unknown>;
  /** A step that could not do its work for a reason outside qrun (e.g. trtexec not installed). */
  skipped?: { reason: string; fix?: string };
}

/** Which way a number is better: a gate or a comparison reads a change in this direction as a gain. */
export type MetricBetter = 'higher' | 'lower' | 'none';

/**
 * The unit of a numeric metric. 'ratio' is a fraction (0.993; reports show 99.30%, a difference of
 * two ratios is in points), '×' a factor, 'count' a number of things, 'number' a plain quantity
 * (a logit difference, a cosine); the rest are what they say.
 */
export type MetricUnit = 'ratio' | '×' | 'count' | 'number' | 'ms' | 's' | 'bytes' | 'MiB' | 'dB' | 'qps' | 'tokens/s';

/**
 * What the report, compare and matrix read a metric as, whichever plugin produced it: the task's
 * agreement with FP32, the INT8 and FP32 label accuracy, the speed-up and its interval, the latency
 * table, the per-class table and confusion matrices (shaped as in src/engine/metric-shapes.ts), the model
 * sizes. A role names one
 * metric per recipe: where two steps declare it, the first step that ran is read.
 */
export type MetricRole =
  | 'agreement'
  | 'accuracy'
  | 'reference-accuracy'
  | 'accuracy-drop'
  | 'max-abs-error'
  | 'mean-cosine'
  | 'min-cosine'
  | 'speedup'
  | 'speedup-interval'
  | 'latency'
  | 'per-class'
  | 'confusion'
  | 'size-ratio'
  | 'sizes'
  | 'calibration-method'
  | 'samples'
  | 'layer-sensitivity';

interface MetricSpecBase {
  description: string;
  role?: MetricRole;
  /** Reported only in some configurations (with labels, with SmoothQuant, when trtexec ran). */
  optional?: boolean;
}

/** A number: a gate may compare it (`bench.agreement: ">= 0.99"`). `null` where it does not apply. */
export interface NumberMetricSpec extends MetricSpecBase {
  unit: MetricUnit;
  better: MetricBetter;
}

/**
 * Anything else: a name or a flag, a list, a table (a list of rows), or an object whose numbers a
 * gate may name by path (`bench.sizes.int8`, declared in `fields`).
 */
export interface ValueMetricSpec extends MetricSpecBase {
  type: 'text' | 'flag' | 'list' | 'table' | 'object';
  fields?: Record<string, MetricSpec>;
}

export type MetricSpec = NumberMetricSpec | ValueMetricSpec;

/** The metrics a plugin returns, by name. */
export type MetricsDeclaration = Record<string, MetricSpec>;

export interface Plugin<Options = Record<string, unknown>> {
  name: string;
  /** Bump when the plugin's output for the same inputs changes: it is part of every cache key. */
  version: string;
  description: string;
  /** JSON Schema of `with:` (ajv, with defaults applied). */
  optionsSchema: Record<string, unknown>;
  /** Static specs, or a function of the validated options (e.g. the `command` plugin). */
  inputs: Record<string, InputSpec> | ((options: Options) => Record<string, InputSpec>);
  outputs: Record<string, OutputSpec> | ((options: Options) => Record<string, OutputSpec>);
  /**
   * Files and folders on the user's disk the step reads, from its options and the recipe; their
   * content digests join the cache key, so editing a data file re-runs the step.
   */
  sources?(options: Options, recipe: RecipeContext): Record<string, SourceRef>;
  /**
   * Versions of tools outside Node that change results (TensorRT, GPU, a command's --version). Part
   * of the cache key. The plugin's own code, the npm packages it imports, Node and the CPU kernel
   * family are keyed by the engine (src/cache/fingerprint.ts), not here.
   */
  fingerprint?(options: Options, recipe?: RecipeContext): Promise<Record<string, unknown>>;
  /**
   * Whether the step's outputs depend on the CPU's instruction set (onnxruntime's MLAS and PyTorch
   * pick kernels by it, and the kernels do not round alike). When they do, the CPU kernel family joins
   * the key. Left out, a plugin whose code imports onnxruntime-node depends on it; a plugin that loads
   * onnxruntime only to check that a model loads says `{ dependent: false, why }`, and one that
   * computes through something qrun cannot see (a Python worker) says `{ dependent: true, why }`.
   */
  cpuKernels?(options: Options): { dependent: boolean; why: string };
  /**
   * The module file that defines the plugin. The engine sets it (the built-in table, the external
   * plugin loader) and keys the plugin on that module's import closure (src/cache/code-closure.ts).
   */
  entry?: string;
  /**
   * Steps whose result depends on something outside the key (timings, an external tool) may set
   * this to false to be re-run every time. Defaults to true.
   */
  cacheable?: boolean;
  /**
   * The metrics run() returns, with their units, the better direction and what the report reads them
   * as (src/engine/metrics.ts). `qrun validate` checks gates against them before anything runs, and
   * docs/recipe-reference.md lists them. Every metric run() returns must be declared (a test checks
   * each built-in plugin); a function of the options where they depend on them.
   */
  metrics?: MetricsDeclaration | ((options: Options) => MetricsDeclaration);
  /**
   * Metric names the step reports that the recipe chooses (the command plugin's JSON metrics): gates
   * on names not in `metrics` are then accepted, and checked after the run only.
   */
  openMetrics?: (options: Options) => boolean;
  /**
   * A cheap check (no work, no network) of whether the step can do its work here, for a step that
   * would return `skipped` otherwise (e.g. trtexec not installed): `qrun plan` says "skip (why)",
   * and a partial run does not require the cache to hold what a step that cannot run here would make.
   */
  available?(options: Options): Promise<{ ok: true } | { ok: false; reason: string; fix?: string }>;
  run(options: Options, inputs: Record<string, Artifact>, sources: Record<string, string>, ctx: StepContext): Promise<StepResult | void>;
}

/** What of the recipe a plugin may consult when resolving its sources. */
export interface RecipeContext {
  file: string;
  dir: string;
  model?: SourceRef;
  data: Record<string, SourceRef>;
}
