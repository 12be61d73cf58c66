// onnx.export — builds the ONNX graph of an encoder model (BERT, RoBERTa, XLM-RoBERTa, DistilBERT,
// ELECTRA), or of a causal LM with its KV cache (GPT-2, Llama, Qwen2, Mistral: ./decoder.ts), in
// TypeScript from config.json and model.safetensors, so a checkpoint with no ONNX file
// needs no Python. With `weights: random` it builds the same graph with seeded weights, from a
// config.json alone (a BERT-base-sized model for benchmarks). Same inputs → same bytes.
// In a recipe after hf.load, later steps take this step's model: the planner wires the latest
// earlier `onnx-model` (src/engine/plan.ts).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { errors, QrunError } from '../../src/errors.ts';
import type { Plugin, SourceRef } from '../../src/engine/plugin.ts';
import { onnxExportMetrics } from './metrics.ts';
import { exportEncoder, OPSET, parseEncoderConfig } from '../../src/export/index.ts';
import { buildAndWrite } from './build.ts';
import { onnxExportOptionsSchema, type OnnxExportOptions } from './options.ts';
import { requireTask } from '../../src/tasks/task.ts';
// The heads alone, not registry.ts (bench's evaluations load onnxruntime: the CPU kernel family would key the export).
import { taskExportHead } from '../../src/tasks/head-registry.ts';
import { decoderConfigErrors, isDecoderConfig, SUPPORTED_DECODER_TYPES } from '../../src/export/decoder/index.ts';
import { exportDecoderModel } from './decoder.ts';

const onnxExport: Plugin<OnnxExportOptions> = {
  name: 'onnx.export',
  version: '1.2.0', // 1.1: the task from the recipe, a sentence-transformers folder or architectures; task heads (embedding pooling). 1.2: decoders with a KV cache (text-generation)
  description: 'Build the ONNX graph of an encoder, or of a decoder with its KV cache, natively from config.json and safetensors weights',
  optionsSchema: onnxExportOptionsSchema,
  inputs: {},
  outputs: {
    model: { kind: 'onnx-model', path: 'model.onnx', description: 'the FP32 ONNX graph (opset 17; decoders opset 21 with past_key_values inputs and present outputs)' },
  },
  metrics: onnxExportMetrics,
  sources(options, recipe) {
    const out: Record<string, SourceRef> = {};
    if (options.config) out.config = { path: resolve(recipe.dir, options.config) };
    // Random weights from an explicit config read nothing else: the model folder stays out of the key.
    if (options.weights === 'random' && options.config) return out;
    if (options.model) out.model = { path: resolve(recipe.dir, options.model) };
    else if (recipe.model) out.model = recipe.model;
    else throw errors.usage(`${recipe.file}: onnx.export needs a model: set \`model:\` at the top of the recipe, \`with: { model: DIR }\`, or \`with: { weights: random, config: FILE }\``);
    return out;
  },
  async run(options, _inputs, sources, ctx) {
    const dir = sources.model;
    const configFile = sources.config ?? join(dir!, 'config.json');
    if (!existsSync(configFile)) {
      throw sources.config ? errors.fileNotFound('config.json', configFile) : errors.modelDirInvalid(dir!, 'config.json is missing');
    }
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(await readFile(configFile, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new QrunError([{ code: 'EXPORT_CONFIG_INVALID', message: `${configFile} is not valid JSON (${(e as Error).message})`, hint: 'config.json is written by save_pretrained' }]);
    }
    // A causal LM (GPT-2, Llama, Qwen2, Mistral) is exported with its KV cache for text-generation.
    if (options.task === 'text-generation' || (options.task === undefined && isDecoderConfig(raw))) {
      return exportDecoderModel(raw, configFile, options, dir, ctx);
    }
    const cfg = parseEncoderConfig(raw, configFile);
    // The head: `base` (no head) or a task, from the recipe, a sentence-transformers folder, or the
    // checkpoint's architectures; a bare checkpoint (BertModel) with none of them is TASK_UNKNOWN.
    const task = options.task === 'base'
      ? { task: 'base' as const, from: 'recipe', detail: 'task: base' }
      : requireTask({ explicit: options.task, modelDir: dir, architectures: cfg.architectures }, dir ?? configFile);
    if (task.task === 'text-generation') throw decoderConfigErrors.unsupported(configFile, 'model_type', cfg.modelType, `text-generation needs a decoder (${SUPPORTED_DECODER_TYPES.join(', ')})`);
    const exportTask = task.task;
    const head = task.task === 'base' ? undefined : await taskExportHead(task.task)?.({ cfg, modelDir: dir });

    const { result, metrics } = await buildAndWrite(options, dir, cfg, ctx, `${cfg.modelType} (${cfg.layers} layers, hidden ${cfg.hiddenSize})`, (weights) => exportEncoder(cfg, weights, exportTask, head?.build), OPSET);
    return {
      metrics: {
        modelType: cfg.modelType,
        family: cfg.family,
        task: result.task,
        taskFrom: `${task.from} (${task.detail})`,
        head: head?.description ?? null,
        ...metrics,
      },
    };
  },
};

export default onnxExport;
