// qdq.insert — QuantizeLinear/DequantizeLinear pairs where TensorRT fuses them (see
// src/quant/place-qdq.ts for the rules and why). Activation scales are placeholders until calibrate.
import { join } from 'node:path';
import { errors } from '../../src/errors.ts';
import type { Plugin } from '../../src/engine/plugin.ts';
import { qdqInsertMetrics } from './metrics.ts';
import { opsetVersion } from '../../src/onnx/graph.ts';
import { defaultPlacement } from '../../src/quant/cnn-placement.ts';
import { checkExcludePatterns } from '../../src/quant/exclude-patterns.ts';
import { placeQdqForTensorRT, type QdqMode } from '../../src/quant/place-qdq.ts';
import { placeForCpu, type PlacementTarget } from '../../src/quant/placement-profile.ts';
import { readModelWithData, writeModelFile } from '../../src/runtime/model-file.ts';

export interface QdqInsertOptions {
  /** Absent: follows the model (src/quant/cnn-placement.ts defaultPlacement). */
  ops?: string[];
  exclude: { ops: string[]; nodes: string[] };
  activations: 'int8' | 'uint8';
  weights: 'per-channel' | 'per-tensor';
  attentionMatMuls: boolean;
  residualAdd?: boolean;
  concat?: boolean;
  mode: QdqMode;
  /** Which runtime's int8 form (src/quant/placement-profile.ts). */
  target: PlacementTarget;
}

const qdqInsert: Plugin<QdqInsertOptions> = {
  name: 'qdq.insert',
  // 1.2: the default placement follows the model (convolution networks: Conv, residual Adds, Concats; src/quant/cnn-placement.ts).
  version: '1.2.0',
  description: 'Insert QuantizeLinear/DequantizeLinear where TensorRT fuses them (MatMul, Gemm, Conv inputs; residual Adds)',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ops: {
        type: 'array',
        items: { enum: ['MatMul', 'Gemm', 'Conv'] },
        uniqueItems: true,
        minItems: 1,
        description:
          'Operator types whose inputs are quantized (weights and activations). Default: follows the model: [Conv, Gemm, MatMul] for a convolution network (at least two Conv nodes, and no attention MatMul or more Conv than MatMul/Gemm nodes), [MatMul, Gemm] otherwise (transformers; a ViT\'s patch-embedding Conv stays float)',
        examples: [['MatMul', 'Gemm', 'Conv']],
      },
      exclude: {
        type: 'object',
        additionalProperties: false,
        default: {},
        description: 'Nodes to keep in float (e.g. the classifier head): by operator type or by node name; `qrun inspect MODEL` lists the names',
        examples: [{ nodes: ['classifier'] }],
        properties: {
          ops: { type: 'array', items: { type: 'string' }, default: [], description: 'operator types to leave in float, of those in `ops`', examples: [['Gemm']] },
          nodes: {
            type: 'array',
            items: { type: 'string' },
            default: [],
            description: 'regular expressions searched in node names (`classifier` matches /classifier/Gemm); a pattern that matches no node is an error naming the closest names',
            examples: [['classifier', 'encoder/layer\\.0/attention']],
          },
        },
      },
      activations: { enum: ['int8', 'uint8'], default: 'int8', description: 'int8 symmetric (TensorRT) or uint8 asymmetric' },
      weights: { enum: ['per-channel', 'per-tensor'], default: 'per-channel', description: 'int8 symmetric weight scales: one per output channel (TensorRT, more accurate) or one per tensor' },
      attentionMatMuls: { type: 'boolean', default: true, description: 'also quantize Q·Kᵀ and attention·V' },
      residualAdd: { type: 'boolean', description: 'Q/DQ on the shortcut input of residual Adds (TensorRT fuses the Add into the layer). Default: on for a convolution network, off otherwise', examples: [true] },
      concat: {
        type: 'boolean',
        description:
          "Q/DQ on every input of a Concat that feeds a quantized node, all given the scale of the Concat's output by calibrate (TensorRT keeps the Concat in int8 without requantizing; NVIDIA's QuantConcat). Default: on for a convolution network, off otherwise",
        examples: [false],
      },
      mode: {
        enum: ['static', 'weight-only', 'dynamic'],
        default: 'static',
        description: 'static: weights and activations (TensorRT); weight-only: int8 weights, float activations; dynamic: onnxruntime quantize_dynamic form (CPU)',
      },
      target: {
        enum: ['tensorrt', 'cpu'],
        default: 'tensorrt',
        description:
          "The runtime the static int8 model is for. tensorrt: Q/DQ pairs as TensorRT's explicit quantization wants them (onnxruntime runs them too). cpu: the form onnxruntime's CPU kernels run fastest, written directly: one uint8 QuantizeLinear per activation shared by its readers, com.microsoft.MatMulIntegerToFloat with per-column int8 weights and the bias folded in, each recognised self-attention block as one com.microsoft.QAttention (else Q/K/V projections as one GEMM, attention MatMuls float); TensorRT cannot load it",
      },
    },
  },
  inputs: { model: { kind: 'onnx-model' } },
  outputs: { model: { kind: 'qdq-model', path: 'model.onnx' } },
  metrics: qdqInsertMetrics,
  async run(options, inputs, _sources, ctx) {
    // Weights are quantized here: all of them in memory, from the .onnx or its external data files.
    const model = await readModelWithData(inputs.model!.path);
    const opset = opsetVersion(model);
    if (opset < 13) {
      throw errors.usage(`qdq.insert needs ONNX opset ≥ 13 for per-channel DequantizeLinear; the model has opset ${opset}`, 're-export the model with opset_version=17');
    }
    for (const r of options.exclude.nodes) {
      try {
        new RegExp(r);
      } catch (e) {
        throw errors.usage(`qdq.insert: exclude.nodes has an invalid regular expression ${JSON.stringify(r)}: ${(e as Error).message}`);
      }
    }
    // What the recipe leaves unsaid follows the model: a CNN gets Conv, residual Adds and Concats.
    const auto = defaultPlacement(model);
    const ops = options.ops ?? auto.ops;
    const residualAdd = options.residualAdd ?? auto.residualAdd;
    const concat = options.concat ?? auto.concat;
    if (!options.ops) ctx.emit({ type: 'log', level: 'info', message: `placement for a ${auto.family === 'cnn' ? 'convolution network' : 'transformer'} (${auto.counts.conv} Conv, ${auto.counts.matmul} MatMul/Gemm nodes): ops ${ops.join(', ')}${residualAdd ? ', residual Adds' : ''}${concat ? ', Concats' : ''}` });
    checkExcludePatterns(options.exclude.nodes, model.graph.node, (n) => ops.includes(n.opType));
    ctx.emit({ type: 'progress', message: 'placing QDQ nodes' });
    // target: cpu rewrites the weight MatMuls/Gemms of a transformer; convolutions keep the Q/DQ form,
    // which onnxruntime fuses into QLinearConv by itself.
    const cpuForm = options.target === 'cpu' && options.mode === 'static' && !ops.includes('Conv');
    if (options.target === 'cpu' && !cpuForm) ctx.emit({ type: 'log', level: 'info', message: `target: cpu applies to static MatMul/Gemm placement; ${options.mode !== 'static' ? `mode: ${options.mode}` : 'a convolution network'} keeps its own form` });
    const placement = cpuForm
      ? placeForCpu(model, { excludeNodes: options.exclude.nodes, excludeOps: options.exclude.ops, weights: options.weights })
      : placeQdqForTensorRT(model, {
          ops,
          excludeOps: options.exclude.ops,
          excludeNodes: options.exclude.nodes,
          activations: options.activations,
          weights: options.weights,
          attentionMatMuls: options.attentionMatMuls,
          residualAdd,
          concat,
          mode: options.mode,
        });
    if (placement.quantizedNodes.length === 0) {
      throw errors.usage(`qdq.insert found nothing to quantize (ops: ${ops.join(', ')}; ${placement.skippedNodes.length} node(s) skipped)`, 'check `ops` and `exclude` in the recipe');
    }
    // One file, or model.onnx + model.onnx.data when the weights still exceed protobuf's 2 GiB.
    await writeModelFile(model, join(ctx.outDir, 'model.onnx'));
    return {
      metrics: {
        mode: options.mode,
        target: cpuForm ? 'cpu' : 'tensorrt',
        quantizedNodes: placement.quantizedNodes.length,
        weightTensors: placement.weights,
        activationTensors: placement.activations.length,
        qdqPairs: placement.activations.reduce((a, b) => a + b.consumers.length, 0),
        residualAdds: placement.residualAdds?.length ?? 0,
        concats: placement.concats?.length ?? 0,
        placement: options.ops ? 'recipe' : auto.family,
        skipped: placement.skippedNodes,
      },
    };
  },
};

export default qdqInsert;
