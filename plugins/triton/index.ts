// The `triton` step: writes a Triton Inference Server model repository,
//   repository/<name>/config.pbtxt + 1/model.onnx            (onnxruntime backend)
//   repository/<name>_trt/config.pbtxt + 1/model.plan        (tensorrt_plan, when an engine was built)
//   repository/<name>_tokenizer/config.pbtxt + 1/model.py    (Python backend, with the hf input's tokenizer.json)
//   repository/<name>_ensemble/config.pbtxt                  (text → tokenizer → <name>; _trt_ensemble for the engine)
// with dims and data types read from the ONNX graph, and labels.txt (config.json's id2label) on the
// classification output. Every config is parsed back and the set checked for consistency
// (repository-check.ts) before anything is written. Same inputs and options → byte-identical files.
//
// Metrics: models (names), configs (config.pbtxt paths inside the step output), maxBatchSize,
// textModel (the model a client sends raw text to, or null) and, when there is none, why.
import { constants, existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTokenizer } from '../../src/data/tokenizer.ts';
import type { Artifact, Plugin, StepContext, StepResult } from '../../src/engine/plugin.ts';
import { tritonMetrics } from './metrics.ts';
import { modelDataFiles, readModelGraph } from '../../src/runtime/model-file.ts';
import { readEngineInfo, type EngineInfo } from '../trtexec/engine-info.ts';
import { buildModelConfig, LABELS_FILE, type ModelConfig } from './model-config.ts';
import { MODEL_NAME_PATTERN, optionsSchema, withDefaults, type TritonOptions } from './options.ts';
import { formatModelConfig } from './pbtxt.ts';
import { assertRepository } from './repository-check.ts';
import { ensembleConfig, textEnsembleBlocker, tokenizerConfig, type TokenizerSettings } from './text-ensemble.ts';
import { taskOfHfFolder } from '../../src/tasks/task.ts';
import { QA_MODEL_PY, qaEnsembleBlocker, qaEnsembleConfigs } from './question-answering.ts';
// Plain data, not registry.ts: its evaluations (onnxruntime) and export heads would enter triton's key.
import { tritonTaskParts } from '../../src/tasks/triton-registry.ts';
import { sentenceTransformersMaxLength } from '../../src/tasks/embedding/data.ts';
import { nerRepositoryFolders } from './token-classification.ts';
import { decoderShape, GENERATION_MODEL_PY, generationModelConfig, servingSettings } from './text-generation.ts';

const REPOSITORY = 'repository';

/** `model.int8.onnx` → `model.int8`; characters a folder name should not hold become `_`. */
export function defaultModelName(modelPath: string): string {
  const stem = basename(modelPath).replace(/\.onnx$/i, '').replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return new RegExp(MODEL_NAME_PATTERN).test(stem) ? stem : 'model';
}

/** The Python backend's model file, shipped with the plugin (its code digest is in every key). */
const TOKENIZER_MODEL_PY = fileURLToPath(new URL('./python/model.py', import.meta.url));

/** One model folder, fully decided before anything is written. */
interface PlannedFolder {
  config: ModelConfig;
  text: string;
  /** Files of version 1, copied from `from` to `1/<to>`. */
  files: { from: string; to: string }[];
  labels?: string[];
  engine?: EngineInfo;
}

function plan(config: ModelConfig, files: PlannedFolder['files'], labels?: string[], engine?: EngineInfo): PlannedFolder {
  // A labels file only where an output points at it.
  const withLabels = config.output.some((o) => o.labelFilename === LABELS_FILE) ? labels : undefined;
  return { config, text: formatModelConfig(config), files, ...(withLabels ? { labels: withLabels } : {}), ...(engine ? { engine } : {}) };
}

async function writeFolder(outDir: string, folder: PlannedFolder): Promise<string> {
  const dir = join(outDir, REPOSITORY, folder.config.name);
  await mkdir(join(dir, '1'), { recursive: true });
  for (const f of folder.files) {
    await mkdir(dirname(join(dir, '1', f.to)), { recursive: true });
    await copyFile(f.from, join(dir, '1', f.to), constants.COPYFILE_FICLONE); // copy-on-write where it can: a model's data may be GBs
  }
  if (folder.labels) await writeFile(join(dir, LABELS_FILE), `${folder.labels.join('\n')}\n`);
  await writeFile(join(dir, 'config.pbtxt'), folder.text);
  return `${REPOSITORY}/${folder.config.name}/config.pbtxt`;
}

/** What the hf-model folder offers the repository: class names and the tokenizer. */
interface HfFolder {
  labels?: string[];
  tokenizer?: { file: string; settings: TokenizerSettings };
}

async function readHfFolder(dir: string): Promise<HfFolder> {
  const configFile = join(dir, 'config.json');
  const config = existsSync(configFile) ? (JSON.parse(await readFile(configFile, 'utf8')) as Record<string, unknown>) : {};
  const out: HfFolder = {};
  // id2label with keys 0…N-1 (transformers writes them as strings): labels in class order.
  const id2label = config.id2label as Record<string, string> | undefined;
  if (id2label && Object.keys(id2label).length > 0) {
    const labels = Object.keys(id2label).map((_, i) => id2label[String(i)]);
    if (labels.every((l): l is string => typeof l === 'string')) out.labels = labels;
  }
  const tokenizerFile = join(dir, 'tokenizer.json');
  if (existsSync(tokenizerFile)) {
    // The same tokenizer settings hf.load tokenized the data sets with, capped by the position
    // embeddings (a longer input would index past them).
    const tokConfig = join(dir, 'tokenizer_config.json');
    const tok = await loadTokenizer(tokenizerFile, existsSync(tokConfig) ? tokConfig : undefined);
    const positions = [config.max_position_embeddings, config.n_positions].find((v): v is number => typeof v === 'number' && v > 0);
    // A sentence-transformers model truncates at its own max_seq_length (hf.load copies its config).
    const limits = [tok.maxLength, positions, await sentenceTransformersMaxLength(dir)].filter((v): v is number => v !== undefined);
    out.tokenizer = { file: tokenizerFile, settings: { maxLength: Math.min(...limits), padId: tok.padId } };
  }
  return out;
}

const plugin: Plugin<TritonOptions> = {
  name: 'triton',
  version: '1.2.0', // 1.2: no labels file on a task's non-class output (embeddings)
  description:
    'Writes a Triton Inference Server model repository: config.pbtxt for the onnxruntime backend, for tensorrt_plan when an engine was built, and a Python-backend tokenizer with an ensemble so clients can send text.',
  optionsSchema,
  inputs: {
    model: { kind: ['qdq-model', 'onnx-model'], description: 'The ONNX model to serve.' },
    engine: { kind: 'engine', optional: true, description: 'A TensorRT engine of the same model (from trtexec); adds a tensorrt_plan model.' },
    hf: { kind: 'hf-model', optional: true, description: 'config.json (id2label → labels.txt) and tokenizer.json (the tokenizer model and the text ensemble).' },
  },
  outputs: {
    repository: { kind: 'triton-repo', path: REPOSITORY, description: 'The model repository: tritonserver --model-repository=<this folder>.' },
  },
  metrics: tritonMetrics,
  // Pure function of the input files and the options.
  cacheable: true,

  async run(rawOptions, inputs, _sources, ctx): Promise<StepResult> {
    const options = withDefaults(rawOptions);
    const modelArtifact = inputs.model as Artifact;
    const model = await readModelGraph(modelArtifact.path);
    const name = options.name ?? defaultModelName(modelArtifact.path);
    const hf: HfFolder = inputs.hf ? await readHfFolder(inputs.hf.path) : {};
    // A task whose output is not classes (embeddings: src/tasks/triton-registry.ts) gets no labels file,
    // whatever id2label config.json carries.
    const task = await taskOfHfFolder(inputs.hf?.path);
    if (tritonTaskParts(task?.task)?.labelsOnOutput === false) delete hf.labels;
    if (options.dynamicBatching && options.maxBatchSize === 0) {
      ctx.emit({ type: 'log', level: 'info', message: 'maxBatchSize is 0: no dynamic_batching is written (Triton can only batch along a batch axis)' });
    }

    const folders: PlannedFolder[] = [];
    const onnxConfig = buildModelConfig(model, { name, runtime: 'onnxruntime', labels: hf.labels }, options);
    // onnxruntime's backend loads 1/model.onnx from its path: the external data files it names must
    // sit beside it at the same relative places (checked: inside the model's folder, long enough).
    const onnxFiles = [{ from: modelArtifact.path, to: 'model.onnx' }, ...(await modelDataFiles(modelArtifact.path)).map((f) => ({ from: f.path, to: f.location }))];
    folders.push(plan(onnxConfig, onnxFiles, hf.labels));

    let trtConfig: ModelConfig | undefined;
    const engine = inputs.engine;
    if (engine) {
      // The engine was built from this ONNX model, so its bindings have the graph's names and types;
      // engine.json (from the trtexec step) says which shapes its profile takes.
      const info = await readEngineInfo(engine.path);
      if (!info) ctx.emit({ type: 'log', level: 'warn', message: `no engine.json beside ${engine.path}: max_batch_size is not checked against the engine's profile` });
      trtConfig = buildModelConfig(model, { name: `${name}_trt`, runtime: 'tensorrt', labels: hf.labels }, options);
      folders.push(plan(trtConfig, [{ from: engine.path, to: 'model.plan' }], hf.labels, info));
    }

    const textModel =
      task?.task === 'text-generation'
        ? await planGeneration(options, name, hf, inputs.hf?.path, onnxConfig, folders, ctx)
        : task?.task === 'question-answering'
          ? planQaEnsemble(options, name, hf, onnxConfig, folders, ctx)
          : planTextEnsemble(options, name, hf, onnxConfig, trtConfig, folders, ctx);
    // Token classification: the text ensemble returns entities (plugins/triton/token-classification.ts).
    if (task?.task === 'token-classification') Object.assign(textModel, await planNerEnsemble(options, name, hf, inputs.hf?.path, onnxConfig, folders, ctx));

    assertRepository(folders.map((f) => ({ folder: f.config.name, text: f.text, engine: f.engine })));
    const configs: string[] = [];
    for (const f of folders) configs.push(await writeFolder(ctx.outDir, f));
    const models = folders.map((f) => f.config.name);
    ctx.emit({ type: 'progress', message: `wrote ${models.length} model(s): ${models.join(', ')}` });
    return { metrics: { models, configs, maxBatchSize: options.maxBatchSize, textModel: textModel.name ?? null, ...(textModel.why ? { noTextModel: textModel.why } : {}) } };
  },
};

/**
 * Question answering (plugins/triton/question-answering.ts): QUESTION + CONTEXT → the pair tokenizer →
 * the model → the answer model → ANSWER (text and character span, JSON), instead of the text ensemble.
 */
function planQaEnsemble(options: TritonOptions, name: string, hf: HfFolder, onnxConfig: ModelConfig, folders: PlannedFolder[], ctx: StepContext): { name?: string; why?: string } {
  if (!options.textEnsemble) return { why: 'textEnsemble: false' };
  if (!hf.tokenizer) return { why: 'no hf-model input with tokenizer.json' };
  const blocker = textEnsembleBlocker(onnxConfig) ?? qaEnsembleBlocker(onnxConfig);
  if (blocker) {
    ctx.emit({ type: 'log', level: 'info', message: `no question-answering ensemble: ${blocker}` });
    return { why: blocker };
  }
  const qa = qaEnsembleConfigs(name, onnxConfig, hf.tokenizer.settings, options.instanceGroup.count);
  const python = [
    { from: QA_MODEL_PY, to: 'model.py' },
    { from: hf.tokenizer.file, to: 'tokenizer.json' },
  ];
  folders.push(plan(qa.tokenizer, python), plan(qa.answer, python), plan(qa.ensemble, []));
  return { name: qa.ensemble.name };
}

/**
 * Text generation (plugins/triton/text-generation.ts): TEXT → the Python model that runs the decode
 * loop with the KV cache against the decoder model through BLS → GENERATED_TEXT. The decoder model
 * itself gets no dynamic batching (its calls come whole from the Python model).
 */
async function planGeneration(options: TritonOptions, name: string, hf: HfFolder, hfDir: string | undefined, onnxConfig: ModelConfig, folders: PlannedFolder[], ctx: StepContext): Promise<{ name?: string; why?: string }> {
  const decoder = folders.find((f) => f.config === onnxConfig);
  if (decoder && decoder.config.dynamicBatching) {
    delete decoder.config.dynamicBatching;
    decoder.text = formatModelConfig(decoder.config);
  }
  if (!options.textEnsemble) return { why: 'textEnsemble: false' };
  if (!hf.tokenizer) return { why: 'no hf-model input with tokenizer.json' };
  const shape = decoderShape(onnxConfig);
  if (typeof shape === 'string') {
    ctx.emit({ type: 'log', level: 'info', message: `no generation model: ${shape}` });
    return { why: shape };
  }
  const config = generationModelConfig(name, onnxConfig, shape, await servingSettings(hfDir, hf.tokenizer.settings), options.instanceGroup.count);
  folders.push(
    plan(config, [
      { from: GENERATION_MODEL_PY, to: 'model.py' },
      { from: hf.tokenizer.file, to: 'tokenizer.json' },
    ]),
  );
  return { name: config.name };
}

/**
 * Token classification: the text ensemble's folders are replaced by TEXT → tokenizer → model →
 * entities model → ENTITIES (words, types and character offsets, JSON); when that cannot be made
 * (no id2label, logits of another shape), the plain text ensemble stays and says why.
 */
async function planNerEnsemble(options: TritonOptions, name: string, hf: HfFolder, hfDir: string | undefined, onnxConfig: ModelConfig, folders: PlannedFolder[], ctx: StepContext): Promise<{ name?: string; why?: string }> {
  if (!options.textEnsemble) return {};
  const ner = await nerRepositoryFolders({ name, hfDir, tokenizer: hf.tokenizer, onnxConfig, instances: options.instanceGroup.count, tokenizerModelPy: TOKENIZER_MODEL_PY });
  if (!ner.ensemble) {
    ctx.emit({ type: 'log', level: 'info', message: `no entities ensemble: ${ner.why}` });
    return {};
  }
  const replaced = new Set(ner.folders.map((f) => f.config.name));
  folders.splice(0, folders.length, ...folders.filter((f) => !replaced.has(f.config.name)), ...ner.folders.map((f) => plan(f.config, f.files)));
  return { name: ner.ensemble, why: undefined };
}

/** Adds the tokenizer and ensemble folders when they can be made; says why not otherwise. */
function planTextEnsemble(
  options: TritonOptions,
  name: string,
  hf: HfFolder,
  onnxConfig: ModelConfig,
  trtConfig: ModelConfig | undefined,
  folders: PlannedFolder[],
  ctx: StepContext,
): { name?: string; why?: string } {
  if (!options.textEnsemble) return { why: 'textEnsemble: false' };
  if (!hf.tokenizer) return { why: 'no hf-model input with tokenizer.json' };
  const blocker = textEnsembleBlocker(onnxConfig);
  if (blocker) {
    ctx.emit({ type: 'log', level: 'info', message: `no text ensemble: ${blocker}` });
    return { why: blocker };
  }
  const tokenizer = tokenizerConfig(`${name}_tokenizer`, onnxConfig, hf.tokenizer.settings, options.instanceGroup.count);
  folders.push(
    plan(tokenizer, [
      { from: TOKENIZER_MODEL_PY, to: 'model.py' },
      { from: hf.tokenizer.file, to: 'tokenizer.json' },
    ]),
  );
  const ensemble = ensembleConfig(`${name}_ensemble`, tokenizer, onnxConfig);
  folders.push(plan(ensemble, [], hf.labels));
  if (trtConfig) folders.push(plan(ensembleConfig(`${name}_trt_ensemble`, tokenizer, trtConfig), [], hf.labels));
  return { name: ensemble.name };
}

export default plugin;
