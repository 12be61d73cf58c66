// hf.load — reads a local Hugging Face model directory (config.json, tokenizer.json, ONNX weights)
// and tokenizes the recipe's data sets with the model's own tokenizer. Nothing is downloaded.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { errors } from '../../src/errors.ts';
import { hubSnapshotOf } from '../../src/recipe/hf-cache.ts';
import type { Plugin, SourceRef } from '../../src/engine/plugin.ts';
import { hfLoadMetrics } from './metrics.ts';
import { readTextDataset } from '../../src/data/text-dataset.ts';
import { isTensorDataFile } from '../../src/data/tensor-dataset.ts';
import { loadTokenizer } from '../../src/data/tokenizer.ts';
import { opsetVersion } from '../../src/onnx/graph.ts';
import { toNumber, type ModelProto } from '../../src/onnx/types.ts';
import type { TokenizedDataset } from '../../src/data/tokenized-dataset.ts';
import { hfLoadOptionsSchema, type HfLoadOptions } from './options.ts';
import { copyModelFile, readModelGraph } from '../../src/runtime/model-file.ts';
import { detectTask, TASK_FILE } from '../../src/tasks/task.ts';
// The data readers alone, not registry.ts: its export heads and evaluations (onnxruntime) would enter hf.load's key.
import { taskDataReader } from '../../src/tasks/data-registry.ts';

const ONNX_CANDIDATES = ['onnx/model.onnx', 'model.onnx'];

const hfLoad: Plugin<HfLoadOptions> = {
  name: 'hf.load',
  // 1.1: labels kept as written (indices as numbers) with their lines.
  // 1.2: the task (src/tasks/task.ts) in hf/task.json; a task's own data format (embedding groups).
  version: '1.2.0',
  description: 'Read a local Hugging Face model directory and tokenize the text data sets with its tokenizer',
  optionsSchema: hfLoadOptionsSchema,
  inputs: {},
  outputs: {
    model: { kind: 'onnx-model', path: 'model.onnx', optional: true, description: 'the FP32 ONNX graph, when the model directory has one' },
    hf: { kind: 'hf-model', path: 'hf', description: 'config.json and tokenizer files' },
    datasets: { kind: 'dataset', path: 'datasets', description: 'tokenized data sets, one JSON file each' },
  },
  metrics: hfLoadMetrics,
  sources(options, recipe) {
    const out: Record<string, SourceRef> = {};
    if (options.model) out.model = { path: resolve(recipe.dir, options.model) };
    else if (recipe.model) out.model = recipe.model;
    else throw errors.usage(`${recipe.file}: hf.load needs a model: set \`model:\` at the top of the recipe or \`with: { model: DIR }\``);
    // The hub id and commit are in this step's metrics: they join its key, for a hub id resolved by
    // the recipe (recipe.model.revision) and for a snapshot folder named by its path alike.
    const hub = hubSnapshotOf(out.model.path);
    if (hub) out.model = { ...out.model, revision: `${hub.id}@${hub.revision}` };
    const names = options.data ?? Object.keys(recipe.data);
    for (const name of names) {
      const ref = recipe.data[name];
      if (!ref) throw errors.usage(`hf.load: data set "${name}" is not in the recipe's data: (${Object.keys(recipe.data).join(', ') || 'none'})`);
      out[`data:${name}`] = ref;
    }
    return out;
  },
  async run(options, _inputs, sources, ctx) {
    const dir = sources.model!;
    // A hub id resolved through the local cache: its commit is in the snapshot folder's name.
    const hub = hubSnapshotOf(dir);
    const configFile = join(dir, 'config.json');
    if (!existsSync(configFile)) throw errors.modelDirInvalid(dir, 'config.json is missing');
    let config: { model_type?: string; id2label?: Record<string, string>; num_labels?: number; architectures?: unknown };
    try {
      config = JSON.parse(await readFile(configFile, 'utf8'));
    } catch (e) {
      throw errors.modelDirInvalid(dir, `config.json is not valid JSON (${(e as Error).message})`);
    }
    // Text data sets are tokenized here; tensor files (.npy/.npz/.tensors.jsonl, e.g. images for a
    // ViT or a ResNet) are read as they are by the steps that use them.
    const textSets = Object.entries(sources).filter(([k, f]) => k.startsWith('data:') && !isTensorDataFile(f));
    const tokenizerFile = join(dir, 'tokenizer.json');
    const hasTokenizer = existsSync(tokenizerFile);
    if (!hasTokenizer && textSets.length) {
      throw errors.modelDirInvalid(dir, `tokenizer.json is missing, and the data set${textSets.length > 1 ? 's' : ''} ${textSets.map(([k]) => k.slice(5)).join(', ')} hold${textSets.length > 1 ? '' : 's'} text (qrun reads fast-tokenizer files; for a vision model give tensors: .npy, .npz or .tensors.jsonl)`);
    }
    const onnxRel = options.onnx ?? ONNX_CANDIDATES.find((c) => existsSync(join(dir, c)));
    let model: ModelProto | undefined;
    if (onnxRel && existsSync(join(dir, onnxRel))) {
      ctx.emit({ type: 'progress', message: `reading ${onnxRel}` });
      const onnxFile = join(dir, onnxRel);
      // The graph only (the metrics below); the model is copied as a file set: the .onnx and every
      // external data file its tensors name (model.onnx_data, model.onnx.data, one per tensor, …),
      // each checked to be inside the model's folder and long enough, at the same relative place.
      model = await readModelGraph(onnxFile);
      await copyModelFile(onnxFile, join(ctx.outDir, 'model.onnx'));
    } else if (options.onnx) {
      throw errors.modelDirInvalid(dir, `${options.onnx} (the recipe's \`onnx:\` option) does not exist`);
    } else {
      // A checkpoint with safetensors only: the onnx.export step builds the graph.
      ctx.emit({ type: 'log', level: 'info', message: `no ONNX file in ${dir} (looked for ${ONNX_CANDIDATES.join(', ')}); an onnx.export step can build it from model.safetensors` });
    }

    const hfDir = join(ctx.outDir, 'hf');
    await mkdir(hfDir);
    // The task, decided once here for the steps that read this folder (calibrate, bench, triton).
    // A model with no head and no `task:` has none: only the steps that need one fail (TASK_UNKNOWN).
    const task = detectTask({ explicit: options.task, modelDir: dir, architectures: Array.isArray(config.architectures) ? config.architectures.map(String) : [] });
    if (task) await writeFile(join(hfDir, TASK_FILE), `${JSON.stringify(task)}\n`);
    const readTaskData = taskDataReader(task?.task);
    // sentence_bert_config.json: sentence-transformers' token limit, which the Triton tokenizer keeps too;
    // generation_config.json: a decoder's eos and max_new_tokens, which the Triton generation model keeps.
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt', 'preprocessor_config.json', 'sentence_bert_config.json', 'generation_config.json']) {
      if (existsSync(join(dir, f))) await copyFile(join(dir, f), join(hfDir, f));
    }

    const configTok = existsSync(join(dir, 'tokenizer_config.json')) ? join(dir, 'tokenizer_config.json') : undefined;
    const tokenizer = hasTokenizer ? await loadTokenizer(tokenizerFile, configTok, options.maxLength) : undefined;
    const dsDir = join(ctx.outDir, 'datasets');
    await mkdir(dsDir);
    const counts: Record<string, number> = {};
    for (const [key, file] of textSets) {
      const name = key.slice(5);
      if (!tokenizer) continue;
      ctx.emit({ type: 'progress', message: `tokenizing ${name}` });
      if (readTaskData) {
        const tokenizedByTask = await readTaskData(file, tokenizer, name, { dir, config });
        counts[name] = tokenizedByTask.samples.length;
        await writeFile(join(dsDir, `${name}.json`), JSON.stringify(tokenizedByTask));
        continue;
      }
      const samples = await readTextDataset(file);
      const tokenized: TokenizedDataset = {
        name,
        maxLength: tokenizer.maxLength,
        padId: tokenizer.padId,
        labels: [...new Set(samples.map((s) => s.label).filter((l): l is string | number => l !== null))].sort(),
        // Labels as written (an index stays a number) and their lines: steps that score predictions
        // map them to classes with src/data/labels.ts and name the line of a label that fits none.
        samples: samples.map((s) => ({ ids: tokenizer.encode(s.text), label: s.label, line: s.line })),
      };
      counts[name] = samples.length;
      await writeFile(join(dsDir, `${name}.json`), JSON.stringify(tokenized));
    }
    const missingOutputs = model
      ? undefined
      : { model: `${dir} has no ONNX file (looked for ${ONNX_CANDIDATES.join(', ')}): add an \`onnx.export\` step after hf.load to build it from model.safetensors, or export it with optimum-cli` };
    return {
      metrics: {
        modelType: config.model_type ?? 'unknown',
        task: task?.task ?? null,
        taskFrom: task ? `${task.from} (${task.detail})` : null,
        ...(hub ? { hubId: hub.id, revision: hub.revision } : {}),
        labels: config.id2label ? Object.keys(config.id2label).length : config.num_labels,
        onnx: model ? onnxRel : null,
        ...(model
          ? {
              irVersion: toNumber(model.irVersion),
              opset: opsetVersion(model),
              nodes: model.graph.node.length,
              opTypes: new Set(model.graph.node.map((n) => n.opType)).size,
              inputs: model.graph.input.map((i) => i.name),
              outputs: model.graph.output.map((o) => o.name),
            }
          : { missingOutputs }),
        samples: counts,
        maxLength: tokenizer?.maxLength ?? null,
        tensorData: Object.entries(sources).filter(([k, f]) => k.startsWith('data:') && isTensorDataFile(f)).map(([k]) => k.slice(5)),
      },
    };
  },
};

export default hfLoad;
