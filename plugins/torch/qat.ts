// torch.qat — quantization-aware training: a few epochs on the training split with the fake
// quantizers on (straight-through gradients, activation ranges fixed at their calibrated amax,
// weight ranges following the weights), distilled from the FP32 model (KL on temperature-softened
// logits; `distillationWeight` < 1 mixes in cross-entropy on the labels). AdamW, linear warm-up and
// decay, seeded and with deterministic algorithms, so a re-run on the same machine repeats it.
import { join, resolve } from 'node:path';
import type { Plugin, SourceRef } from '../../src/engine/plugin.ts';
import { datasetLabelIndices } from '../../src/data/labels.ts';
import { type Device, STATE_DIR, deviceSchema, runWorker, torchCpuKernels, torchFingerprint } from './common.ts';
import { torchQatMetrics } from './metrics.ts';

export interface TorchQatOptions {
  data: string;
  epochs: number;
  learningRate: number;
  batchSize: number;
  seed: number;
  temperature: number;
  distillationWeight: number;
  weightDecay: number;
  warmupRatio: number;
  samples: number;
  checkData: string;
  device: Device;
}

const torchQat: Plugin<TorchQatOptions> = {
  name: 'torch.qat',
  version: '1.1.0', // 1.1: labels mapped by src/data/labels.ts (indices or names) and passed to the worker
  description: 'Fine-tune with fake quantization in the loop, distilled from the FP32 model',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      data: { type: 'string', default: 'train', description: 'the training set under `data:`' },
      epochs: { type: 'integer', minimum: 1, maximum: 1000, default: 2, description: 'passes over the training set' },
      learningRate: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 2e-5, description: 'AdamW peak learning rate (linear warm-up, then linear decay to 0)', examples: [5e-5] },
      batchSize: { type: 'integer', minimum: 1, maximum: 4096, default: 32, description: 'training samples per step' },
      seed: { type: 'integer', minimum: 0, default: 42, description: 'seed of the shuffling and of torch: the same seed gives the same weights' },
      temperature: { type: 'number', exclusiveMinimum: 0, default: 2, description: 'distillation temperature T: the KL divergence is taken between softmax(logits / T) of FP32 and the quantized model', examples: [4] },
      distillationWeight: { type: 'number', minimum: 0, maximum: 1, default: 1, description: '1 = distillation only; 0 = labels only' },
      weightDecay: { type: 'number', minimum: 0, default: 0.01, description: 'AdamW weight decay' },
      warmupRatio: { type: 'number', minimum: 0, maximum: 1, default: 0.1, description: 'share of the steps spent warming the learning rate up from 0' },
      samples: { type: 'integer', minimum: 0, default: 0, description: 'use the first N training samples; 0 = all' },
      checkData: { type: 'string', default: 'calibration', description: 'data set on which agreement with FP32 is reported before and after; "" = none' },
      device: deviceSchema,
    },
  },
  inputs: { state: { kind: 'torch-state' }, datasets: { kind: 'dataset' } },
  outputs: { state: { kind: 'torch-state', path: STATE_DIR } },
  metrics: torchQatMetrics,
  fingerprint: (options) => torchFingerprint({ device: options.device }),
  cpuKernels: torchCpuKernels,
  // The data files, so that labels fitting none of the model's classes are reported at their lines.
  sources(options, recipe): Record<string, SourceRef> {
    const out: Record<string, SourceRef> = {};
    for (const name of [options.data, options.checkData]) if (name && recipe.data[name]) out[`labels:${name}`] = recipe.data[name]!;
    return out;
  },
  async run(options, inputs, sources, ctx) {
    // Labels mapped here with the one mapping (src/data/labels.ts): the worker trains and scores with indices.
    const hfDir = join(inputs.state!.path, 'hf');
    const labels: Record<string, (number | null)[]> = {};
    for (const name of new Set([options.data, options.checkData].filter(Boolean))) labels[name] = await datasetLabelIndices(inputs.datasets!.path, name, hfDir, sources[`labels:${name}`]);
    const metrics = await runWorker(
      'qat',
      { ...options, checkData: options.checkData || null, labels, stateDir: inputs.state!.path, datasetsDir: inputs.datasets!.path, outDir: resolve(ctx.outDir, STATE_DIR) },
      ctx,
    );
    return { metrics };
  },
};

export default torchQat;
