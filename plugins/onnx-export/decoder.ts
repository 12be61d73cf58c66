// onnx.export for a causal LM (task text-generation): the decoder graph with its KV cache
// (src/export/decoder/: GPT-2, Llama, Qwen2, Mistral), from the checkpoint or seeded random weights.
// The same metrics as the encoders' export, so reports and gates read both alike.
import type { StepContext, StepResult } from '../../src/engine/plugin.ts';
import { DECODER_OPSET, exportDecoder, parseDecoderConfig } from '../../src/export/decoder/index.ts';
import { buildAndWrite } from './build.ts';
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
  const { metrics } = await buildAndWrite(options, dir, cfg, ctx, `${cfg.modelType} decoder (${cfg.layers} layers, hidden ${cfg.hiddenSize}, KV cache)`, (weights) => exportDecoder(cfg, weights), DECODER_OPSET);
  return {
    metrics: {
      modelType: cfg.modelType,
      family: cfg.family,
      task: 'text-generation',
      taskFrom: options.task ? 'recipe (task: text-generation)' : `config.json (${cfg.architectures[0] ?? `model_type ${cfg.modelType}`})`,
      head: null,
      ...metrics,
    },
  };
}
