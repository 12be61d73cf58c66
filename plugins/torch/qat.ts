// torch.qat — quantization-aware training: a few epochs on the training split with the fake
// quantizers on (straight-through gradients, activation ranges fixed at their calibrated amax,
// weight ranges following the weights), distilled from the FP32 model (KL on temperature-softened
// logits; `distillationWeight` < 1 mixes in cross-entropy on the labels). AdamW, linear warm-up and
// decay, seeded and with deterministic algorithms, so a re-run on the same machine repeats it.
import { resolve } from 'node:path';
import type { Plugin } from '../../src/engine/plugin.ts';
import { type Device, STATE_DIR, deviceSchema, runWorker, torchCpuKernels, torchFingerprint } from './common.ts';

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
  version: '1.0.0',
  description: 'Fine-tune with fake quantization in the loop, distilled from the FP32 model',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      data: { type: 'string', default: 'train', description: 'the training set under `data:`' },
      epochs: { type: 'integer', minimum: 1, maximum: 1000, default: 2 },
      learningRate: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 2e-5 },
      batchSize: { type: 'integer', minimum: 1, maximum: 4096, default: 32 },
      seed: { type: 'integer', minimum: 0, default: 42 },
      temperature: { type: 'number', exclusiveMinimum: 0, default: 2 },
      distillationWeight: { type: 'number', minimum: 0, maximum: 1, default: 1, description: '1 = distillation only; 0 = labels only' },
      weightDecay: { type: 'number', minimum: 0, default: 0.01 },
      warmupRatio: { type: 'number', minimum: 0, maximum: 1, default: 0.1 },
      samples: { type: 'integer', minimum: 0, default: 0, description: 'use the first N training samples; 0 = all' },
      checkData: { type: 'string', default: 'calibration', description: 'data set on which agreement with FP32 is reported before and after; "" = none' },
      device: deviceSchema,
    },
  },
  inputs: { state: { kind: 'torch-state' }, datasets: { kind: 'dataset' } },
  outputs: { state: { kind: 'torch-state', path: STATE_DIR } },
  fingerprint: (options) => torchFingerprint({ device: options.device }),
  cpuKernels: torchCpuKernels,
  async run(options, inputs, _sources, ctx) {
    const metrics = await runWorker(
      'qat',
      { ...options, checkData: options.checkData || null, stateDir: inputs.state!.path, datasetsDir: inputs.datasets!.path, outDir: resolve(ctx.outDir, STATE_DIR) },
      ctx,
    );
    return { metrics };
  },
};

export default torchQat;
