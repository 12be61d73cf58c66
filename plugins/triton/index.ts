// The `triton` step: writes a Triton Inference Server model repository,
//   repository/<name>/config.pbtxt + 1/model.onnx        (onnxruntime backend)
//   repository/<name>_trt/config.pbtxt + 1/model.plan    (tensorrt_plan, when an engine was built)
// with dims and data types read from the ONNX graph. Same inputs and options → byte-identical files.
// Not here yet: the tokenizer as a Python-backend model and an ensemble that chains it to the
// model (DESIGN.md lists them; clients send token ids for now).
//
// Metrics: models (names), configs (config.pbtxt paths inside the step output), maxBatchSize.
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize } from 'node:path';
import type { Artifact, Plugin, StepResult } from '../../src/engine/plugin.ts';
import { readModel } from '../../src/onnx/model-io.ts';
import type { ModelProto } from '../../src/onnx/types.ts';
import { tritonErrors } from './errors.ts';
import { buildModelConfig, type ModelConfig } from './model-config.ts';
import { parseModelConfigText } from './model-config-schema.ts';
import { MODEL_NAME_PATTERN, optionsSchema, withDefaults, type TritonOptions } from './options.ts';
import { formatModelConfig } from './pbtxt.ts';

const REPOSITORY = 'repository';

/** `model.int8.onnx` → `model.int8`; characters a folder name should not hold become `_`. */
export function defaultModelName(modelPath: string): string {
  const stem = basename(modelPath).replace(/\.onnx$/i, '').replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return new RegExp(MODEL_NAME_PATTERN).test(stem) ? stem : 'model';
}

/** Files an ONNX model keeps its large weights in (external data), relative to the model's folder. */
function externalDataFiles(model: ModelProto, modelPath: string): string[] {
  const files = new Set<string>();
  for (const t of model.graph.initializer) {
    const location = t.externalData?.find((e) => e.key === 'location')?.value;
    if (!location) continue;
    const rel = normalize(location);
    if (isAbsolute(rel) || rel.startsWith('..')) throw tritonErrors.externalData(modelPath, location);
    files.add(rel);
  }
  return [...files].sort();
}

/** Writes one model folder: config.pbtxt and version 1 with the model file(s). */
async function writeModelFolder(outDir: string, config: ModelConfig, files: { from: string; to: string }[]): Promise<string> {
  const text = formatModelConfig(config);
  // Check the text against Triton's schema before anything ships: a config Triton cannot parse
  // would only fail at server start, far from here.
  parseModelConfigText(text);
  const folder = join(outDir, REPOSITORY, config.name);
  for (const f of files) {
    await mkdir(dirname(join(folder, '1', f.to)), { recursive: true });
    await copyFile(f.from, join(folder, '1', f.to));
  }
  await writeFile(join(folder, 'config.pbtxt'), text);
  return `${REPOSITORY}/${config.name}/config.pbtxt`;
}

const plugin: Plugin<TritonOptions> = {
  name: 'triton',
  version: '1.0.0',
  description: 'Writes a Triton Inference Server model repository: config.pbtxt for the onnxruntime backend and, when an engine was built, for tensorrt_plan.',
  optionsSchema,
  inputs: {
    model: { kind: ['qdq-model', 'onnx-model'], description: 'The ONNX model to serve.' },
    engine: { kind: 'engine', optional: true, description: 'A TensorRT engine of the same model (from trtexec); adds a tensorrt_plan model.' },
  },
  outputs: {
    repository: { kind: 'triton-repo', path: REPOSITORY, description: 'The model repository: tritonserver --model-repository=<this folder>.' },
  },
  // Pure function of the input files and the options.
  cacheable: true,

  async run(rawOptions, inputs, _sources, ctx): Promise<StepResult> {
    const options = withDefaults(rawOptions);
    const modelArtifact = inputs.model as Artifact;
    const model = await readModel(modelArtifact.path);
    const name = options.name ?? defaultModelName(modelArtifact.path);
    const configs: string[] = [];
    const models: string[] = [];
    if (options.dynamicBatching && options.maxBatchSize === 0) {
      ctx.emit({ type: 'log', level: 'info', message: 'maxBatchSize is 0: no dynamic_batching is written (Triton can only batch along a batch axis)' });
    }

    const onnxConfig = buildModelConfig(model, { name, runtime: 'onnxruntime' }, options);
    const modelDir = dirname(modelArtifact.path);
    const onnxFiles = [
      { from: modelArtifact.path, to: 'model.onnx' },
      ...externalDataFiles(model, modelArtifact.path).map((f) => ({ from: join(modelDir, f), to: f })),
    ];
    configs.push(await writeModelFolder(ctx.outDir, onnxConfig, onnxFiles));
    models.push(name);

    const engine = inputs.engine;
    if (engine) {
      // The engine was built from this ONNX model, so its bindings have the graph's names and types.
      // Its optimisation profile must cover maxBatchSize (trtexec's shapes.max.batch).
      const trtConfig = buildModelConfig(model, { name: `${name}_trt`, runtime: 'tensorrt' }, options);
      configs.push(await writeModelFolder(ctx.outDir, trtConfig, [{ from: engine.path, to: 'model.plan' }]));
      models.push(trtConfig.name);
    }
    ctx.emit({ type: 'progress', message: `wrote ${models.length} model(s): ${models.join(', ')}` });
    return { metrics: { models, configs, maxBatchSize: options.maxBatchSize } };
  },
};

export default plugin;
