// sensitivity — how much each quantized layer alone costs, and falling back to float where needed.
// For each quantized node (a MatMul/Gemm/Conv, or a residual Add, fed by DequantizeLinear) a model is
// built in which ONLY that node is quantized (src/quant/qdq-groups.ts), and its logits are compared
// with FP32's on the evaluation set: SQNR and prediction agreement. The table, most sensitive first,
// goes into the metrics. With a `target`, the most sensitive nodes are returned to float, fewest
// first, re-measuring the full model until the target holds; with `fallback: { layers: N }`
// (BladeDISC's way: a fixed budget instead of a target), the N most sensitive are, measured once. The
// result is this step's `qdq-model`, which later steps (onnx.save, bench) pick up as the latest one.
import { rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { errors } from '../../src/errors.ts';
import type { Plugin, SourceRef } from '../../src/engine/plugin.ts';
import { sensitivityMetrics } from './metrics.ts';
import { loadSampleBatches, tensorSourceFor } from '../../src/data/model-batches.ts';
import { labelsForScoring, readModelClasses } from '../../src/data/labels.ts';
import { selectLogitsOutput } from '../../src/runtime/logits-output.ts';
import type { ModelProto } from '../../src/onnx/types.ts';
import { copyModelFile, readModelWithData, sessionModel, writeModelFile } from '../../src/runtime/model-file.ts';
import { findQuantizedNodes, floatSource, keepOnlyQuantized } from '../../src/quant/qdq-groups.ts';
import { ORT_VERSION } from '../../src/runtime/session.ts';
import { logitsOf, measure, type Measurement, type PreparedBatch } from './evaluate.ts';
import { searchFallback } from './fallback.ts';

export interface SensitivityOptions {
  data: string;
  tensors?: string;
  /** Evaluate on at most this many samples (the first N); 0 = all. */
  samples: number;
  batchSize: number;
  /** Graph output compared; default: the logits, chosen by name and shape (src/runtime/logits-output.ts). */
  output?: string;
  target?: { agreement?: number; accuracyDrop?: number };
  /** Fall back the N most sensitive layers (a fixed budget), instead of searching for a target. */
  fallback?: { layers: number };
  search: 'doubling' | 'linear';
  /** always: the per-layer table every time; auto: only when the full model misses the target. */
  perLayer: 'always' | 'auto';
}

interface Row extends Measurement {
  node: string;
  op: string;
}

const round = (x: number, d = 4) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);
const show = (m: Measurement) => ({ sqnrDb: round(m.sqnrDb, 2), agreement: round(m.agreement), maxAbsError: round(m.maxAbsError), accuracy: m.accuracy === null ? null : round(m.accuracy) });

const sensitivity: Plugin<SensitivityOptions> = {
  name: 'sensitivity',
  // 1.1: the logits output chosen by name and shape; labels by index or name (src/data/labels.ts). 1.2: fallback: { layers: N }
  version: '1.2.0',
  description: 'Per-layer quantization sensitivity (SQNR, agreement with FP32); falls back the most sensitive layers to float until a target holds',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      data: { type: 'string', default: 'evaluation', description: 'name of the data set under `data:`' },
      tensors: { type: 'string', minLength: 1, description: 'a .npy/.npz/.tensors.jsonl file of model inputs (relative to the recipe)', examples: ['data/eval.npz'] },
      samples: { type: 'integer', minimum: 0, default: 256, description: 'evaluate on the first N samples (0 = all): each layer costs one pass' },
      batchSize: { type: 'integer', minimum: 1, maximum: 1024, default: 32, description: 'samples per onnxruntime batch' },
      output: {
        type: 'string',
        minLength: 1,
        description: 'the graph output compared (the [batch, classes] logits); default: the one named logits (or containing it, or the one of that shape), an error when that is unclear',
        examples: ['logits'],
      },
      target: {
        type: 'object',
        additionalProperties: false,
        minProperties: 1,
        description: 'What the model must reach: the most sensitive layers go back to float, fewest first, until every target given holds; left out, the step only measures',
        examples: [{ agreement: 0.995 }],
        properties: {
          agreement: { type: 'number', exclusiveMinimum: 0, maximum: 1, description: 'prediction agreement with FP32 to reach', examples: [0.995] },
          accuracyDrop: { type: 'number', minimum: 0, maximum: 1, description: 'largest label-accuracy drop from FP32 allowed (0.005 = half a point; needs labels)', examples: [0.005] },
        },
      },
      fallback: {
        type: 'object',
        additionalProperties: false,
        required: ['layers'],
        description: 'Fall back a fixed number of layers instead of searching for a target (BladeDISC style): the N most sensitive layers of the per-layer table return to float',
        examples: [{ layers: 2 }],
        properties: {
          layers: { type: 'integer', minimum: 1, description: 'how many of the most sensitive layers return to float (all of them when there are fewer)', examples: [2] },
        },
      },
      search: { enum: ['doubling', 'linear'], default: 'doubling', description: 'fall back 1, 2, 4, … nodes then bisect, or one more at a time' },
      perLayer: {
        enum: ['always', 'auto'],
        default: 'always',
        description: 'always: measure every layer alone; auto: only when a target is set and the full model misses it (CI)',
      },
    },
  },
  inputs: {
    model: { kind: 'qdq-model', description: 'the calibrated QDQ model' },
    float: { kind: 'onnx-model', description: 'the FP32 model (reference logits and float weights)' },
    datasets: { kind: 'dataset', optional: true },
    hf: { kind: 'hf-model', optional: true, description: 'config.json: label names for accuracy' },
  },
  outputs: {
    model: { kind: 'qdq-model', path: 'model.onnx', description: 'the QDQ model, with the fallback layers in float' },
    report: { kind: 'file', path: 'sensitivity.json' },
  },
  metrics: sensitivityMetrics,
  sources(options, recipe) {
    const file = tensorSourceFor(options.data, options.tensors, recipe, resolve);
    const out: Record<string, SourceRef> = {};
    if (file) out.tensors = { path: file };
    // A text data set is read through hf.load; its file is named so that labels fitting none of the
    // model's classes are reported at their lines.
    else if (recipe.data[options.data]) out.labels = recipe.data[options.data]!;
    return out;
  },
  async fingerprint() {
    return { onnxruntime: ORT_VERSION };
  },
  async run(options, inputs, sources, ctx) {
    if (options.fallback && options.target) {
      throw errors.usage('sensitivity: `fallback: { layers }` and `target` both choose what returns to float', 'keep one: `target` searches for the fewest layers that reach it; `fallback.layers` returns a fixed number of the most sensitive');
    }
    // Variants mix the QDQ model's nodes with the FP32 model's weights: both in memory, with their
    // external data. onnxruntime loads the two models themselves from their paths.
    const qdq = await readModelWithData(inputs.model!.path);
    const fp32 = await readModelWithData(inputs.float!.path);
    const nodes = findQuantizedNodes(qdq);
    if (nodes.length === 0) throw errors.usage('sensitivity: the model has no node fed by DequantizeLinear (nothing is quantized, or it uses dynamic quantization)', 'run qdq.insert (mode: static or weight-only) and calibrate before sensitivity');
    const classes = await readModelClasses(inputs.hf?.path);
    // The logits by name and shape, not position (a hidden state exported first is not them); the
    // QDQ model must have the same output.
    const logitsOutput = selectLogitsOutput(fp32, classes?.count, options.output, 'the FP32 model');
    const output = logitsOutput.name;
    selectLogitsOutput(qdq, classes?.count, output, 'the QDQ model');
    ctx.emit({ type: 'log', level: 'info', message: `logits: output "${output}" (${logitsOutput.reason})` });

    const data = await loadSampleBatches(fp32, { name: options.data, tensorFile: sources.tensors, datasetsDir: inputs.datasets?.path, batchSize: options.batchSize, limit: options.samples, pad: true });
    if (data.samples === 0) throw errors.dataEmpty(options.tensors ?? options.data);
    for (const note of data.notes ?? []) ctx.emit({ type: 'log', ...note });
    const batches: PreparedBatch[] = data.batches.map((b) => ({ indices: b.indices, feeds: b.feeds() }));

    ctx.emit({ type: 'progress', message: 'FP32 and full INT8 logits' });
    const reference = await logitsOf(inputs.float!.path, batches, data.samples, output);
    const labelFile = data.labelFile ?? sources.labels ?? `data set "${options.data}"`;
    const labels = labelsForScoring(data, classes, { output, width: reference[0]?.length ?? 0 }, labelFile);
    if (options.target?.accuracyDrop !== undefined && labels.every((l) => l === null)) {
      throw errors.usage(`sensitivity: target.accuracyDrop needs labels, and data set "${options.data}" (${labelFile}) has none`, 'use target.agreement, or give every sample a label ("label" in the data: a class name or index)');
    }
    const fp32Accuracy = measure(reference, reference, labels).accuracy;
    // A variant goes to onnxruntime as bytes, or, over 2 GiB, as files in a folder removed after use.
    let variants = 0;
    const variantLogits = async (m: ModelProto) => {
      const dir = join(ctx.tmpDir, `variant-${++variants}`);
      try {
        return await logitsOf(await sessionModel(m, dir), batches, data.samples, output);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    };
    const full = measure(reference, await logitsOf(inputs.model!.path, batches, data.samples, output), labels);

    const meetsTarget = (m: Measurement) =>
      (options.target?.agreement === undefined || m.agreement >= options.target.agreement) &&
      (options.target?.accuracyDrop === undefined || (fp32Accuracy ?? 0) - (m.accuracy ?? 0) <= options.target.accuracyDrop + 1e-12);
    const needFallback = options.target !== undefined && !meetsTarget(full);
    const fixedLayers = options.fallback?.layers;

    const source = floatSource(fp32);
    const rows: Row[] = [];
    // The N-layers mode needs the ranking whatever perLayer says.
    const layerNodes = options.perLayer === 'always' || needFallback || fixedLayers !== undefined ? nodes : [];
    for (const [k, n] of layerNodes.entries()) {
      if (ctx.signal.aborted) throw new Error('interrupted');
      ctx.emit({ type: 'progress', message: `only ${n.name} quantized`, done: k + 1, total: layerNodes.length, phase: `each of ${layerNodes.length} layers quantized alone` });
      const variant = keepOnlyQuantized(qdq, new Set([n.name]), fp32, source);
      rows.push({ node: n.name, op: n.opType, ...measure(reference, await variantLogits(variant), labels) });
    }
    // Most sensitive first: lowest SQNR; ties (e.g. identical outputs) by agreement.
    rows.sort((a, b) => a.sqnrDb - b.sqnrDb || a.agreement - b.agreement || (a.node < b.node ? -1 : 1));

    let fallback: string[] = [];
    let final = full;
    let finalModel: ModelProto | undefined;
    let tried: { count: number; ok: boolean }[] = [];
    if (needFallback) {
      const results = new Map<number, { m: Measurement; model: ModelProto }>();
      const all = new Set(nodes.map((n) => n.name));
      const search = await searchFallback(
        rows.length,
        async (count) => {
          const keep = new Set(all);
          for (const r of rows.slice(0, count)) keep.delete(r.node);
          ctx.emit({ type: 'progress', message: `fallback: ${count} node(s) in float`, phase: 'fallback search' });
          const model = keepOnlyQuantized(qdq, keep, fp32, source);
          const m = measure(reference, await variantLogits(model), labels);
          results.set(count, { m, model });
          return meetsTarget(m);
        },
        options.search,
      );
      tried = search.tried;
      fallback = rows.slice(0, search.count).map((r) => r.node);
      final = results.get(search.count)!.m;
      finalModel = results.get(search.count)!.model;
    } else if (fixedLayers !== undefined) {
      fallback = rows.slice(0, fixedLayers).map((r) => r.node);
      const keep = new Set(nodes.map((n) => n.name));
      for (const n of fallback) keep.delete(n);
      ctx.emit({ type: 'progress', message: `fallback: the ${fallback.length} most sensitive node(s) in float`, phase: 'fallback' });
      finalModel = keepOnlyQuantized(qdq, keep, fp32, source);
      final = measure(reference, await variantLogits(finalModel), labels);
      tried = [{ count: fallback.length, ok: true }];
    }
    // With nodes returned to float, the chosen variant (external data past 2 GiB); else the input's
    // files as they are.
    if (finalModel) await writeModelFile(finalModel, join(ctx.outDir, 'model.onnx'));
    else await copyModelFile(inputs.model!.path, join(ctx.outDir, 'model.onnx'));

    const table = rows.map((r) => ({ node: r.node, op: r.op, ...show(r) }));
    const report = {
      samples: data.samples,
      output,
      outputReason: logitsOutput.reason,
      fp32Accuracy,
      full: show(full),
      layers: table,
      target: options.target ?? null,
      fallbackMode: fallbackMode(options),
      fallback,
      tried,
      final: show(final),
    };
    await writeFile(join(ctx.outDir, 'sensitivity.json'), JSON.stringify(report, null, 1));
    if (fallback.length) ctx.emit({ type: 'log', level: 'info', message: `left in float: ${fallback.join(', ')}` });
    return {
      metrics: {
        samples: data.samples,
        // Which graph output was compared as the logits (by name and shape, or the `output` option).
        logitsOutput: output,
        quantizedNodes: nodes.length,
        full: show(full),
        mostSensitive: table.slice(0, 10),
        target: options.target ?? null,
        targetMet: options.target ? meetsTarget(final) : null,
        fallbackMode: fallbackMode(options),
        fallback,
        fallbackCount: fallback.length,
        evaluations: layerNodes.length + 2 + tried.length,
        agreement: round(final.agreement),
        sqnrDb: round(final.sqnrDb, 2),
        maxAbsError: round(final.maxAbsError),
        accuracyDrop: fp32Accuracy !== null && final.accuracy !== null ? round(fp32Accuracy - final.accuracy) : null,
      },
    };
  },
};

/** How the fallback was chosen, as the report says it: "target", "layers: N", or null (measure only). */
function fallbackMode(options: SensitivityOptions): string | null {
  if (options.fallback) return `layers: ${options.fallback.layers}`;
  return options.target ? 'target' : null;
}

export default sensitivity;
