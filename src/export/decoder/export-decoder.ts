// config.json + weights → the ONNX ModelProto of a causal LM with a KV cache (the layout of
// docs/generation.md and /work/notes/decoder-contract.md), in TypeScript.
import { QRUN_VERSION } from '../../version.ts';
import type { ModelProto } from '../../onnx/types.ts';
import { GraphBuilder } from '../graph-builder.ts';
import type { WeightSource } from '../weight-source.ts';
import type { DecoderConfig, DecoderFamily } from './decoder-config.ts';
import type { DecoderContext } from './decoder-parts.ts';
import { buildGpt2 } from './gpt2.ts';
import { buildLlama } from './llama.ts';

/**
 * Opset 21 (IR 10): DequantizeLinear with block-wise scales, what weight-only INT4 in QDQ form needs,
 * exists from opset 21; every op here is in the default domain, so TensorRT and onnxruntime both
 * read the graph (onnxruntime's own optimizer may still fuse attention and norms).
 */
export const DECODER_OPSET = 21;
export const DECODER_IR_VERSION = 10;

const BUILDERS: Record<DecoderFamily, (ctx: DecoderContext) => Promise<void>> = { gpt2: buildGpt2, llama: buildLlama };

export interface DecoderExportResult {
  model: ModelProto;
  parameters: number;
}

export async function exportDecoder(cfg: DecoderConfig, weights: WeightSource): Promise<DecoderExportResult> {
  const g = new GraphBuilder(`${cfg.modelType}-text-generation`);
  await BUILDERS[cfg.family]({ g, w: weights, cfg });
  const model = g.toModel({
    producerVersion: QRUN_VERSION,
    opset: DECODER_OPSET,
    irVersion: DECODER_IR_VERSION,
    docString: `${cfg.modelType} (${cfg.architectures[0] ?? 'no architectures'}) exported natively by qrun for text-generation, with past_key_values inputs and present outputs`,
  });
  return { model, parameters: g.parameters };
}
