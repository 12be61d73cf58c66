// What the encoder and decoder exports share: open the checkpoint (or take seeded random weights),
// build the graph, close the checkpoint whatever happens, write model.onnx (one protobuf, or
// model.onnx + model.onnx.data above protobuf's 2 GiB), and the metrics that describe the graph.
import { basename, join } from 'node:path';
import type { StepContext } from '../../src/engine/plugin.ts';
import type { ModelProto } from '../../src/onnx/types.ts';
import { CheckpointWeights, RandomWeights, type WeightSource } from '../../src/export/weight-source.ts';
import { writeModelFile } from '../../src/runtime/model-file.ts';
import { Checkpoint } from '../../src/safetensors/index.ts';
import type { OnnxExportOptions } from './options.ts';

interface Built {
  model: ModelProto;
  parameters: number;
}

export async function buildAndWrite<R extends Built>(
  options: OnnxExportOptions,
  dir: string | undefined,
  cfg: { initializerRange: number; layers: number; hiddenSize: number; heads: number; modelType: string; family: string },
  ctx: StepContext,
  what: string,
  build: (weights: WeightSource) => Promise<R>,
  opset: number,
): Promise<{ result: R; metrics: Record<string, unknown> }> {
  const checkpoint = options.weights === 'checkpoint' ? await Checkpoint.open(dir!) : undefined;
  let result: R;
  try {
    const weights = checkpoint ? new CheckpointWeights(checkpoint) : new RandomWeights(options.seed, cfg.initializerRange);
    ctx.emit({ type: 'progress', message: `building ${what} from ${weights.description}` });
    result = await build(weights);
  } finally {
    await checkpoint?.close();
  }
  const written = await writeModelFile(result.model, join(ctx.outDir, 'model.onnx'));
  const graph = result.model.graph;
  return {
    result,
    metrics: {
      modelType: cfg.modelType,
      family: cfg.family,
      weights: options.weights === 'random' ? `random (seed ${options.seed})` : 'checkpoint',
      layers: cfg.layers,
      hidden: cfg.hiddenSize,
      heads: cfg.heads,
      parameters: result.parameters,
      opset,
      nodes: graph.node.length,
      inputs: graph.input.map((i) => i.name),
      outputs: graph.output.map((o) => o.name),
      bytes: written.bytes + written.dataBytes,
      externalData: written.dataFile ? basename(written.dataFile) : null,
    },
  };
}
