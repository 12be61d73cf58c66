// Tasks: what a model is for (sequence classification, sentence embeddings, question answering,
// token classification) and everything in a run that depends on it — the head onnx.export puts on
// the encoder, how hf.load reads the data sets, what bench measures INT8 against FP32 with, and what
// the Triton repository returns to a client.
//
// Where the task comes from, first match wins (detectTask):
//   1. the recipe: `task: embedding` at the top level (the planner passes it to every step that
//      declares a `task` option: hf.load, onnx.export), or `with: { task: … }` on one of them;
//   2. a sentence-transformers folder (modules.json; 1_Pooling/config.json; 2_Normalize) → embedding;
//   3. config.json's architectures: *ForSequenceClassification, *ForQuestionAnswering,
//      *ForTokenClassification, *ForCausalLM / *LMHeadModel (text generation);
//   otherwise (a bare BertModel checkpoint) TASK_UNKNOWN, whose hint says to write `task:`.
// hf.load writes what it found to hf/task.json; the later steps (calibrate, bench, triton) read it
// from their hf-model input with `taskOfHfFolder`, so the task is decided once per run and keyed
// (it is an option of hf.load, or a fact of the model folder, which is a source of hf.load).
//
// HOW TO PLUG IN A TASK (T2: question-answering, T3: token-classification):
//   - make src/tasks/<task>/index.ts exporting a `TaskDefinition` (below); fill only what you need:
//       exportHead     the graph's head on the last hidden state (src/export calls it; outputs named
//                      as the task's consumers expect, e.g. start_logits/end_logits);
//       readData       tokenizes one data file for hf.load (e.g. question + context, only_second);
//       evaluate       FP32 vs INT8 (and gold) over the evaluation set, returning the task's metrics
//                      plus the headline roles (agreement with FP32, accuracy against gold); declare
//                      those metrics in src/tasks/<task>/metrics.ts (plain data) with one line in
//                      src/tasks/metrics.ts: bench nests them under its metric taskMetricsKey(name)
//                      (gate bench.questionAnswering.f1);
//   - add one line to src/tasks/registry.ts's TASKS (bench reads `evaluate` there), and one line to
//     each step's registry your task has a part for: src/tasks/data-registry.ts (readData, for
//     hf.load), src/tasks/head-registry.ts (exportHead, for onnx.export) and src/tasks/triton-registry.ts
//     (TritonTaskParts, plain data: labels on the output or not); plus src/tasks/metrics.ts and your
//     row in README.md's task table. Put readData in the task's data module and exportHead in its head
//     module, not in index.ts: each step imports only its registry because a plugin's cache key holds
//     its whole import closure (src/cache/code-closure.ts) and, when that closure loads
//     onnxruntime-node, the CPU kernel family; so a data module must not reach onnxruntime-node or
//     src/export, a head module not onnxruntime-node, and the Triton parts neither
//     (src/tasks/registries.test.ts checks, and that each registry agrees with TASKS).
//   Everything not filled falls back to the sequence-classification path (or a TASK_NOT_SUPPORTED
//   error where none applies).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { taskErrors } from './errors.ts';
import type { EncoderConfig } from '../export/encoder-config.ts';
import type { ExportHead } from '../export/layers.ts';
import type { LoadedTokenizer } from '../data/tokenizer.ts';
import type { TokenizedDataset } from '../data/tokenized-dataset.ts';
import type { SampleBatches } from '../data/model-batches.ts';
import type { ModelConfig } from '../../plugins/triton/model-config.ts';
import type ort from 'onnxruntime-node';
import type { LatencyRow } from '../engine/metric-shapes.ts';
import type { GenerationSettings } from './text-generation/settings.ts';

export const TASK_NAMES = ['sequence-classification', 'embedding', 'question-answering', 'token-classification', 'text-generation'] as const;
export type TaskName = (typeof TASK_NAMES)[number];

export function isTaskName(value: unknown): value is TaskName {
  return typeof value === 'string' && (TASK_NAMES as readonly string[]).includes(value);
}

/** The key a task's metrics sit under in bench's metrics: `embedding`, `questionAnswering`, `tokenClassification`. */
export function taskMetricsKey(task: TaskName): string {
  return task.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** What decided the task, for the step's metrics and messages. */
export type TaskSource = 'recipe' | 'sentence-transformers' | 'architectures';

export interface TaskDetection {
  task: TaskName;
  from: TaskSource;
  /** E.g. "modules.json", "BertForQuestionAnswering". */
  detail: string;
}

/** The architectures suffix → task; checked in this order on config.json's first architecture. */
const ARCHITECTURE_SUFFIXES: [suffix: string, task: TaskName][] = [
  ['ForSequenceClassification', 'sequence-classification'],
  ['ForQuestionAnswering', 'question-answering'],
  ['ForTokenClassification', 'token-classification'],
  // Decoders with a language-model head (GPT2LMHeadModel, LlamaForCausalLM, Qwen2ForCausalLM,
  // MistralForCausalLM): greedy generation with the KV cache (src/tasks/text-generation/).
  ['ForCausalLM', 'text-generation'],
  ['LMHeadModel', 'text-generation'],
];

export function taskFromArchitecture(architectures: string[]): TaskDetection | undefined {
  const arch = architectures[0] ?? '';
  const hit = ARCHITECTURE_SUFFIXES.find(([suffix]) => arch.endsWith(suffix));
  return hit ? { task: hit[1], from: 'architectures', detail: arch } : undefined;
}

/** sentence-transformers' own marker files: modules.json, or the pooling module's folder. */
export function isSentenceTransformersFolder(dir: string): boolean {
  return existsSync(join(dir, 'modules.json')) || existsSync(join(dir, '1_Pooling', 'config.json'));
}

export interface DetectTaskInput {
  /** `task:` from the recipe (top level, or the step's `with:`). */
  explicit?: TaskName;
  /** The model folder, when there is one (random weights from a config.json have none). */
  modelDir?: string;
  /** config.json's architectures. */
  architectures: string[];
}

/** The task, or undefined when nothing says (see `requireTask`). */
export function detectTask(input: DetectTaskInput): TaskDetection | undefined {
  if (input.explicit) return { task: input.explicit, from: 'recipe', detail: 'task:' };
  if (input.modelDir && isSentenceTransformersFolder(input.modelDir)) return { task: 'embedding', from: 'sentence-transformers', detail: 'modules.json' };
  return taskFromArchitecture(input.architectures);
}

/** The task, or TASK_UNKNOWN naming `where` (the model folder or config file) with the fix. */
export function requireTask(input: DetectTaskInput, where: string): TaskDetection {
  const found = detectTask(input);
  if (!found) throw taskErrors.unknown(where, input.architectures);
  return found;
}

/** hf.load's record of the task in its hf-model output. */
export const TASK_FILE = 'task.json';

/** The task hf.load decided, from its hf-model output; undefined for an older output or a model with none. */
export async function taskOfHfFolder(hfDir: string | undefined): Promise<TaskDetection | undefined> {
  if (!hfDir || !existsSync(join(hfDir, TASK_FILE))) return undefined;
  const parsed = JSON.parse(await readFile(join(hfDir, TASK_FILE), 'utf8')) as Partial<TaskDetection>;
  return isTaskName(parsed.task) ? (parsed as TaskDetection) : undefined;
}

// ---- What a task plugs into each step (each step finds its part in its own registry, above). ----


/** What onnx.export knows when it asks a task for its head. */
export interface ExportHeadSource {
  cfg: EncoderConfig;
  /** The model folder (undefined for random weights from a config.json alone). */
  modelDir?: string;
}

/** The model a data set is read for: its folder and config.json (id2label: a token classifier's tags). */
export interface TaskModel {
  dir: string;
  config: Record<string, unknown>;
}

/** What bench hands a task's `evaluate`: both sessions and the evaluation set's batches for each. */
export interface TaskEvaluation {
  fp32: ort.InferenceSession;
  int8: ort.InferenceSession;
  /** The same samples in the same order, fed to each model (their inputs may differ in type). */
  fp32Batches: SampleBatches;
  int8Batches: SampleBatches;
  /** The tokenized evaluation set as hf.load wrote it (labels, pairs, offsets…); undefined for tensor data. */
  dataset?: TokenizedDataset;
  /** hf.load's hf-model folder (config.json: id2label for token classification's tag names), when bench has it. */
  hfDir?: string;
  signal: AbortSignal;
  progress(message: string, done: number, total: number): void;
  /** bench's timing settings, for a task that times its models itself (text generation). */
  timing?: { warmup: number; iterations: number; blocks: number };
  /** bench's `generation:` option (text generation). */
  generation?: Partial<GenerationSettings>;
}

/**
 * A task's scores: `metrics` goes under bench's metric `taskMetricsKey(task)`; `headline` fills
 * bench's role-bearing metrics so reports, compare and gates read the task's agreement with FP32
 * (`agreement`), its accuracy against gold (`fp32Accuracy`/`int8Accuracy`) and the output cosine.
 */
export interface TaskScores {
  metrics: Record<string, unknown>;
  headline: {
    agreement: number | null;
    fp32Accuracy: number | null;
    int8Accuracy: number | null;
    meanCosine: number | null;
    minCosine: number | null;
    maxAbsError: number | null;
  };
  /**
   * Timings the task measured itself, as bench's latency rows (text generation: time to first token,
   * tokens/s); bench then times no input shapes of its own.
   */
  latency?: LatencyRow[];
}

/** What the triton step adds for the task after the ONNX model. */
export interface TritonTaskParts {
  /** Whether config.json's id2label goes on the output as labels.txt (classification: yes). */
  labelsOnOutput: boolean;
  /**
   * A Python-backend model after the ONNX model in the ensemble (answers with their span, entities
   * with their words): its model.py and its config from the model's. Without it the ensemble
   * returns the model's outputs as they are (embeddings).
   */
  postprocess?: { modelPy: string; config(name: string, model: ModelConfig): ModelConfig };
}

export interface TaskDefinition {
  name: TaskName;
  /** One line for messages and the README's task table. */
  summary: string;
  /**
   * The head on the encoder's last hidden state (`build`) and what it is, for onnx.export's metrics
   * ("mean pooling + L2 normalisation (1_Pooling/config.json)"); without it the family's own head.
   */
  exportHead?(source: ExportHeadSource): Promise<{ build: ExportHead; description: string }>;
  /** Tokenizes one text data file for hf.load; without it {"text", "label"} lines. */
  readData?(file: string, tokenizer: LoadedTokenizer, name: string, model?: TaskModel): Promise<TokenizedDataset>;
  /** FP32 vs INT8 over the evaluation set; without it bench's classification scoring. */
  evaluate?(run: TaskEvaluation): Promise<TaskScores>;
  // The Triton parts are plain data in src/tasks/triton-registry.ts, not here: nothing else reads them.
}
