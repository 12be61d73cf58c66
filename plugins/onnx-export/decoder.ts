// onnx.export for a causal LM (task text-generation): the decoder graph with its KV cache
// (src/export/decoder/: GPT-2, Llama, Qwen2, Mistral), from the checkpoint or seeded random weights.
// The same metrics as the encoders' export, so reports and gates read both alike.
import { basename, join } from 'node:path';
import type { StepContext, StepResult } from '../../src/engine/plugin.ts';
import { DECODER_OPSET, exportDecoder, parseDecoderConfig } from '../../src/export/decoder/index.ts';
import { CheckpointWeights, RandomWeights } from '../../src/export/weight-source.ts';
import { writeModelFile } from '../../src/runtime/model-file.ts';
import { Checkpoint } from '../../src/safetensors/index.ts';
import type { OnnxExportOptions } from './options.ts';

export async function exportDecoderModel(
  raw: Record<string, unknown>,
  configFile: string,
  options: OnnxExportOptions,
  dir: string | undefined,
  ctx: StepContext,
): Promise<StepResult> {
  // Every unsupported option is refused here, naming config.json and the key, before a weight is read.
  const cfg = parseDecoderConfig(raw, configFile);
  const checkpoint = options.weights === 'checkpoint' ? await Checkpoint.open(dir!) : undefined;
  let result;
  try {
    const weights = checkpoint ? new CheckpointWeights(checkpoint) : new RandomWeights(options.seed, cfg.initializerRange);
    ctx.emit({ type: 'progress', message: `building ${cfg.modelType} decoder (${cfg.layers} layers, hidden ${cfg.hiddenSize}, KV cache) from ${weights.description}` });
    result = await exportDecoder(cfg, weights);
  } finally {
    await checkpoint?.close();
  }
  const written = await writeModelFile(result.model, join(ctx.outDir, 'model.onnx'));
  const graph = result.model.graph;
  return {
    metrics: {
      modelType: cfg.modelType,
      family: cfg.family,
      task: 'text-generation',
      taskFrom: options.task ? 'recipe (task: text-generation)' : `config.json (${cfg.architectures[0] ?? `model_type ${cfg.modelType}`})`,
      head: null,
      weights: options.weights === 'random' ? `random (seed ${options.seed})` : 'checkpoint',
      layers: cfg.layers,
      hidden: cfg.hiddenSize,
      heads: cfg.heads,
      parameters: result.parameters,
      opset: DECODER_OPSET,
      nodes: graph.node.length,
      inputs: graph.input.map((i) => i.name),
      outputs: graph.output.map((o) => o.name),
      bytes: written.bytes + written.dataBytes,
      externalData: written.dataFile ? basename(written.dataFile) : null,
    },
  };
}
