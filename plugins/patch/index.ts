// patch — runtime graph patches: named, versioned rules, each of which changes the graph or says
// why it did not apply. A model no rule matches is written back byte-identical.
// `smoothquant:` is the one patch that needs data: per-channel activation maxima of the LayerNorm
// outputs, collected with onnxruntime on the calibration set (src/quant/smoothquant.ts). Its output
// is an FP32 model that computes the same numbers; qdq.insert, calibrate and bench all use it as the
// latest onnx-model, so they see the smoothed graph consistently.
import { join, resolve } from 'node:path';
import { errors } from '../../src/errors.ts';
import type { InputSpec, Plugin, SourceRef } from '../../src/engine/plugin.ts';
import { patchMetrics } from './metrics.ts';
import { loadSampleBatches, tensorSourceFor } from '../../src/data/model-batches.ts';
import { channelAbsMax, modelWithOutputs } from '../../src/quant/activation-runner.ts';
import { copyModelFile, readModelWithData, sessionModel, writeModelFile } from '../../src/runtime/model-file.ts';
import { applySmoothQuant, findSmoothTargets } from '../../src/quant/smoothquant.ts';
import { createSession, ORT_VERSION } from '../../src/runtime/session.ts';
import { RULES, RULE_NAMES } from './rules/index.ts';

export interface SmoothQuantOptions {
  alpha: number;
  /** Data set (name under `data:`) whose activation maxima set the smoothing factors. */
  data: string;
  tensors?: string;
  samples: number;
  batchSize: number;
}

export interface PatchOptions {
  rules: string[];
  smoothquant?: SmoothQuantOptions;
}

const SMOOTHQUANT_VERSION = '1';

const patch: Plugin<PatchOptions> = {
  name: 'patch',
  version: `1.1.0+${RULES.map((r) => `${r.name}@${r.version}`).join(',')},smoothquant@${SMOOTHQUANT_VERSION}`,
  description: 'Apply named graph rewrites (TensorRT compatibility, clean-ups) and optionally SmoothQuant',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      rules: {
        type: 'array',
        items: { enum: RULE_NAMES },
        uniqueItems: true,
        default: RULE_NAMES,
        description: `Graph rules to apply, in this order; each one changes the graph or says why it did not apply. ${RULES.map((r) => `${r.name}: ${r.description}.`).join(' ')}`,
        examples: [['remove-identity', 'cumsum-int-to-float']],
      },
      smoothquant: {
        type: 'object',
        additionalProperties: false,
        description: 'Fold SmoothQuant per-channel factors into LayerNorm γ/β and the MatMul weights after it, so activations with outlier channels quantize better; left out, no smoothing',
        examples: [{ alpha: 0.5 }],
        properties: {
          alpha: { type: 'number', minimum: 0, maximum: 1, default: 0.5, description: 'migration strength: 0 leaves activations alone, 1 moves all their range to the weights' },
          data: { type: 'string', default: 'calibration', description: 'name of the data set under `data:` whose activation maxima set the factors' },
          tensors: { type: 'string', minLength: 1, description: 'a .npy/.npz/.tensors.jsonl file of model inputs to use instead of `data` (relative to the recipe)', examples: ['data/calib.npz'] },
          samples: { type: 'integer', minimum: 0, default: 128, description: 'use the first N samples; 0 = all' },
          batchSize: { type: 'integer', minimum: 1, maximum: 1024, default: 16, description: 'samples per onnxruntime batch while collecting the maxima' },
        },
      },
    },
  },
  // Data sets join the key only when SmoothQuant reads them.
  inputs: (options) => {
    const specs: Record<string, InputSpec> = { model: { kind: 'onnx-model' } };
    if (options.smoothquant) specs.datasets = { kind: 'dataset', optional: true, description: 'calibration data for SmoothQuant' };
    return specs;
  },
  outputs: { model: { kind: 'onnx-model', path: 'model.onnx' } },
  metrics: patchMetrics,
  sources(options, recipe) {
    const out: Record<string, SourceRef> = {};
    const file = options.smoothquant ? tensorSourceFor(options.smoothquant.data, options.smoothquant.tensors, recipe, resolve) : undefined;
    if (file) out.tensors = { path: file };
    return out;
  },
  async fingerprint(options) {
    return options.smoothquant ? { onnxruntime: ORT_VERSION } : {};
  },
  // The graph rules are exact edits; only SmoothQuant computes (activation maxima in onnxruntime).
  cpuKernels: (options) =>
    options.smoothquant
      ? { dependent: true, why: "SmoothQuant's scales come from activation maxima computed by onnxruntime" }
      : { dependent: false, why: 'the graph rules are exact edits; onnxruntime is loaded only for SmoothQuant' },
  async run(options, inputs, sources, ctx) {
    // Rules and SmoothQuant edit weights: every tensor in memory, from the .onnx or its external data.
    const model = await readModelWithData(inputs.model!.path);
    const results: Record<string, string> = {};
    let changed = 0;
    for (const name of options.rules) {
      const rule = RULES.find((r) => r.name === name)!;
      const outcome = rule.apply(model);
      results[name] = outcome.applied ? `applied: ${outcome.detail}` : `not applied: ${outcome.reason}`;
      if (outcome.applied) changed += outcome.changes;
      ctx.emit({ type: 'log', level: 'info', message: `${name}: ${results[name]}` });
    }
    let smooth: Record<string, unknown> | undefined;
    if (options.smoothquant) {
      const sq = options.smoothquant;
      const targets = findSmoothTargets(model);
      if (targets.length === 0) {
        results.smoothquant = 'not applied: no LayerNormalization (with constant γ/β) feeds a MatMul/Gemm weight';
      } else {
        ctx.emit({ type: 'progress', message: `SmoothQuant: activation maxima of ${targets.length} LayerNorm outputs` });
        const data = await loadSampleBatches(model, { name: sq.data, tensorFile: sources.tensors, datasetsDir: inputs.datasets?.path, batchSize: sq.batchSize, limit: sq.samples });
        if (data.samples === 0) throw errors.dataEmpty(sq.tensors ?? sq.data);
        const tensors = targets.map((t) => t.tensor);
        const session = await createSession(await sessionModel(modelWithOutputs(model, tensors), join(ctx.tmpDir, 'smoothquant-model')), { optimization: 'basic' });
        const maxima = await channelAbsMax(session, data.batches, tensors, { signal: ctx.signal, onBatch: (done, total) => ctx.emit({ type: 'progress', message: `SmoothQuant: batch ${done}/${total}`, done, total }) });
        await session.release();
        const r = applySmoothQuant(model, targets, maxima, sq.alpha);
        changed += r.layerNorms;
        results.smoothquant = `applied: ${r.layerNorms} LayerNorm(s), ${r.weights} weight(s), ${r.restored} restoring Mul(s), α=${sq.alpha}`;
        const round = (x: number) => Math.round(x * 100) / 100;
        smooth = { alpha: sq.alpha, samples: data.samples, layerNorms: r.layerNorms, weights: r.weights, restored: r.restored, channelSpread: r.spread.map((s) => ({ tensor: s.tensor, before: round(s.before), after: round(s.after) })) };
      }
      ctx.emit({ type: 'log', level: 'info', message: `smoothquant: ${results.smoothquant}` });
    }
    // Unchanged: the input's files as they are (its external data too), byte-identical.
    const out = join(ctx.outDir, 'model.onnx');
    if (changed === 0) await copyModelFile(inputs.model!.path, out);
    else await writeModelFile(model, out);
    return { metrics: { rules: results, changes: changed, ...(smooth ? { smoothquant: smooth } : {}) } };
  },
};

export default patch;
