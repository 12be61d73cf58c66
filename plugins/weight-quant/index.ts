// weights.quantize — weight-only quantization of every MatMul with a constant 2-D float weight
// (a decoder's linear layers and LM head): INT8 per output channel or INT4/INT8 block-wise along K,
// symmetric or with zero points, written as com.microsoft.MatMulNBits (onnxruntime's fused CPU/CUDA
// kernel) or as opset-21 block-wise DequantizeLinear feeding the float MatMul (TensorRT, ModelOpt's
// INT4 ONNX). Codes by round-to-nearest, or by GPTQ calibrated on the recipe's text: the FP32 model
// runs each calibration text once in onnxruntime and returns, per MatMul input, the Gram matrix
// Σ x xᵀ (src/quant/weight-only/hessian.ts). Activations stay float; no calibrate step is needed.
import { join } from 'node:path';
import { errors } from '../../src/errors.ts';
import type { Plugin } from '../../src/engine/plugin.ts';
import { readTokenizedDataset } from '../../src/data/tokenized-dataset.ts';
import { loadSampleBatches } from '../../src/data/model-batches.ts';
import { checkExcludePatterns } from '../../src/quant/exclude-patterns.ts';
import { quantizeRtn, type BlockSpec, type QuantizedWeight } from '../../src/quant/weight-only/block-quant.ts';
import { decoderInputs, prefillFeeds } from '../../src/quant/weight-only/decoder-feeds.ts';
import type { WeightForm } from '../../src/quant/weight-only/forms.ts';
import { quantizeGptq } from '../../src/quant/weight-only/gptq.ts';
import { collectHessians, modelWithGramOutputs } from '../../src/quant/weight-only/hessian.ts';
import { relativeOutputError, sampleStride } from '../../src/quant/weight-only/output-error.ts';
import { embeddingGathers, rewriteWeightMatMuls, weightMatMuls } from '../../src/quant/weight-only/rewrite.ts';
import { tensorToFloat32 } from '../../src/onnx/tensor.ts';
import { modelFileBytes, readModelGraph, readModelWithData, sessionModel, writeModelFile } from '../../src/runtime/model-file.ts';
import { createSession, ORT_VERSION } from '../../src/runtime/session.ts';
import { weightQuantMetrics } from './metrics.ts';

export interface WeightQuantOptions {
  bits: 4 | 8;
  /** Rows of K per scale; absent: 32 for 4 bits, one per output channel for 8 bits. */
  blockSize?: 16 | 32 | 64 | 128 | 256 | 'channel';
  /** Absent: zero points in the matmulnbits form, symmetric in the qdq form. */
  symmetric?: boolean;
  clip: boolean;
  form: WeightForm;
  method: 'rtn' | 'gptq';
  data: string;
  samples: number;
  dampening: number;
  actOrder: boolean;
  accuracyLevel: 0 | 1 | 2 | 3 | 4;
  exclude: { nodes: string[] };
  embeddings: boolean;
}

/** One scale per output channel: a block longer than any K. */
const CHANNEL = 2 ** 30;

export function blockSpecOf(options: Pick<WeightQuantOptions, 'bits' | 'blockSize' | 'symmetric' | 'clip' | 'form'>): BlockSpec {
  const size = options.blockSize ?? (options.bits === 4 ? 32 : 'channel');
  // Zero points fit a block's range with all 2^bits levels (measured on gpt-debian, INT4/32 GPTQ:
  // +3.0% perplexity against +4.2% symmetric); TensorRT's INT4 weights need zero point 0.
  const symmetric = options.symmetric ?? options.form === 'qdq';
  return { bits: options.bits, blockSize: size === 'channel' ? CHANNEL : size, symmetric, clip: options.clip };
}

const weightQuant: Plugin<WeightQuantOptions> = {
  name: 'weights.quantize',
  version: '1.0.0',
  description: 'Weight-only INT4/INT8 quantization of MatMul weights (MatMulNBits or block-wise QDQ), round-to-nearest or GPTQ',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      bits: { enum: [4, 8], default: 4, description: 'bits per weight code' },
      blockSize: {
        enum: [16, 32, 64, 128, 256, 'channel'],
        description: 'rows of K (input features) that share a scale; `channel`: one scale per output channel over all of K. Default: 32 for 4 bits, `channel` for 8 bits',
        examples: [64],
      },
      symmetric: {
        type: 'boolean',
        description:
          'true: symmetric codes (zero point 2^(bits-1), none stored); false: a zero point per block, so the block\'s [min, max] uses every level. Default: false in the matmulnbits form, true in the qdq form (TensorRT\'s INT4 weights take no zero point)',
        examples: [false],
      },
      clip: {
        type: 'boolean',
        default: true,
        description:
          "search each block's range: of the range shrunk by 1, 0.98, … 0.6, the one whose codes give the least squared error (gptq: weighted by each input's energy, the Hessian's diagonal); false: the block's full range (plain round-to-nearest). Measured on gpt-debian, INT4/32: perplexity +3.3% instead of +4.1% (rtn), +2.1% instead of +3.0% (gptq)",
      },
      form: {
        enum: ['matmulnbits', 'qdq'],
        default: 'matmulnbits',
        description:
          "matmulnbits: com.microsoft.MatMulNBits (onnxruntime's fused kernel, what its CPU runs fast); qdq: an opset-21 DequantizeLinear with block_size (int4/uint4 or int8/uint8 initializers) feeding the float MatMul, the form TensorRT and ModelOpt's INT4 ONNX use (onnxruntime runs it too)",
      },
      method: {
        enum: ['rtn', 'gptq'],
        default: 'rtn',
        description: 'rtn: each weight rounded to the nearest level of its block; gptq: GPTQ, calibrated on `data` (each text run once through the FP32 model, the Hessian Σxxᵀ of every MatMul input), rounding errors compensated by the weights not yet quantized',
      },
      data: { type: 'string', default: 'calibration', description: 'data set under `data:` that gptq calibrates on' },
      samples: { type: 'integer', minimum: 0, default: 128, description: 'gptq: use the first N texts (0 = all)', examples: [256] },
      dampening: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.01, description: "gptq: λ added to the Hessian's diagonal, as a fraction of its mean (GPTQ's percdamp)" },
      actOrder: {
        type: 'boolean',
        default: false,
        description:
          "gptq: quantize each weight's input rows in decreasing order of input energy (the Hessian's diagonal; GPTQ's act-order), with every block's scales fixed beforehand from the original rows, so the stored layout is unchanged",
      },
      accuracyLevel: {
        enum: [0, 1, 2, 3, 4],
        default: 0,
        description: "MatMulNBits' accuracy_level: 0 computes with float32 activations (exactly the dequantized weights); 4 lets onnxruntime quantize the activations to int8 per block (faster on VNNI/AMX CPUs, less exact)",
      },
      embeddings: {
        type: 'boolean',
        default: false,
        description:
          'also quantize embedding tables (Gather of a constant [V, H] table: token and position embeddings), round-to-nearest along H with the same bits and blocks: com.microsoft.GatherBlockQuantized in the matmulnbits form, DequantizeLinear + Gather in the qdq form. In a small decoder the embeddings are a large part of the weights',
      },
      exclude: {
        type: 'object',
        additionalProperties: false,
        default: {},
        description: 'MatMuls (and Gathers, with embeddings) to keep in float, by node name (regular expressions; `qrun inspect MODEL` lists the names)',
        examples: [{ nodes: ['lm_head'] }],
        properties: {
          nodes: {
            type: 'array',
            items: { type: 'string' },
            default: [],
            description: 'regular expressions searched in node names (`lm_head` matches /lm_head/MatMul); a pattern that matches no MatMul (or Gather, with embeddings) is an error naming the closest names',
            examples: [['lm_head']],
          },
        },
      },
    },
  },
  inputs: {
    model: { kind: 'onnx-model', description: 'the FP32 model' },
    datasets: { kind: 'dataset', optional: true, description: 'tokenized text data sets (hf.load), for method: gptq' },
  },
  outputs: { model: { kind: 'qdq-model', path: 'model.onnx' } },
  metrics: weightQuantMetrics,
  cpuKernels(options) {
    return options.method === 'gptq'
      ? { dependent: true, why: "GPTQ's Hessians are onnxruntime GEMM sums, whose float rounding follows the CPU's kernels" }
      : { dependent: false, why: 'round-to-nearest reads only the weights' };
  },
  async fingerprint(options) {
    return options.method === 'gptq' ? { onnxruntime: ORT_VERSION } : {};
  },
  async run(options, inputs, _sources, ctx) {
    for (const r of options.exclude.nodes) {
      try {
        new RegExp(r);
      } catch (e) {
        throw errors.usage(`weights.quantize: exclude.nodes has an invalid regular expression ${JSON.stringify(r)}: ${(e as Error).message}`);
      }
    }
    const modelPath = inputs.model!.path;
    const model = await readModelWithData(modelPath);
    checkExcludePatterns(options.exclude.nodes, model.graph.node, (n) => n.opType === 'MatMul' || (options.embeddings && n.opType === 'Gather'));
    const { targets, excluded } = weightMatMuls(model, options.exclude.nodes);
    const tables = options.embeddings ? embeddingGathers(model, options.exclude.nodes) : { targets: [], excluded: [] };
    if (tables.targets.length && options.form === 'qdq') {
      // Measured on gpt-debian: onnxruntime fuses DequantizeLinear + MatMul into MatMulNBits but not
      // DequantizeLinear + Gather, so every run dequantizes whole tables (decode 3.6 ms vs 0.6 ms).
      ctx.emit({ type: 'log', level: 'warn', message: 'embeddings in the qdq form: onnxruntime dequantizes the whole embedding table on every run (a decode step ~6x slower than without); use form: matmulnbits for onnxruntime (GatherBlockQuantized), or leave embeddings float' });
    }
    excluded.push(...tables.excluded);
    if (targets.length === 0) throw errors.usage('weights.quantize found no MatMul with a constant 2-D float32 weight to quantize', excluded.length ? 'exclude.nodes keeps every one in float' : 'this step quantizes linear layers exported as MatMul(x, W[K, N])');
    const spec = blockSpecOf(options);
    const weights = new Map(targets.map((t) => [t.weight.name ?? '', t]));

    // GPTQ: one Hessian per distinct MatMul input tensor.
    let hessianOf: Map<string, Float64Array> | undefined;
    let tokens = 0;
    if (options.method === 'gptq') {
      const inputsK = new Map<string, number>();
      for (const t of targets) inputsK.set(t.input, t.K);
      const requests = [...inputsK].map(([tensor, K]) => ({ tensor, K }));
      const graph = await readModelGraph(modelPath);
      const { model: gramModel, outputs } = modelWithGramOutputs(graph, requests);
      const decoder = decoderInputs(graph);
      let batches: { feeds(): Record<string, import('onnxruntime-node').Tensor> }[];
      if (decoder) {
        if (!inputs.datasets) throw errors.usage(`weights.quantize: method gptq calibrates on the data set "${options.data}", but no tokenized data reached the step`, 'put hf.load before it and the data set under `data:`');
        const dataset = await readTokenizedDataset(inputs.datasets.path, options.data);
        const samples = (options.samples > 0 ? dataset.samples.slice(0, options.samples) : dataset.samples).map((s) => s.ids).filter((ids) => ids.length > 0);
        tokens = samples.reduce((a, s) => a + s.length, 0);
        batches = samples.map((ids) => ({ feeds: () => prefillFeeds(decoder, ids) }));
      } else {
        // Not a decoder (an encoder, a hand-built graph): hf.load's batches, unpadded.
        const data = await loadSampleBatches(graph, { name: options.data, datasetsDir: inputs.datasets?.path, batchSize: 8, limit: options.samples });
        batches = data.batches;
        tokens = data.samples;
      }
      if (batches.length === 0) throw errors.dataEmpty(options.data);
      const session = await createSession(await sessionModel(gramModel, join(ctx.tmpDir, 'hessian-model')), { optimization: 'basic' });
      let sums: Float64Array[];
      try {
        sums = await collectHessians(session, batches, outputs, requests.map((r) => r.K), {
          signal: ctx.signal,
          onBatch: (done, total) => ctx.emit({ type: 'progress', message: `Hessians: text ${done}/${total}`, done, total, phase: `Hessians of ${requests.length} MatMul inputs over ${batches.length} texts` }),
        });
      } finally {
        await session.release();
      }
      hessianOf = new Map(requests.map((r, i) => [r.tensor, sums[i]!]));
    }

    const quantized = new Map<string, QuantizedWeight>();
    const errorsGptq: number[] = [];
    const errorsRtn: number[] = [];
    let done = 0;
    for (const [name, t] of weights) {
      // GPTQ's loop is synchronous JavaScript (seconds per weight on a large model): without a turn
      // of the event loop between weights the CLI's SIGINT/SIGTERM handler never runs, the abort is
      // never seen and the whole step finishes before the run stops.
      await new Promise((resolve) => setImmediate(resolve));
      if (ctx.signal.aborted) throw new Error('interrupted');
      const w = tensorToFloat32(t.weight);
      const h = hessianOf?.get(t.input);
      if (h) {
        const g = quantizeGptq(w, t.K, t.N, h, spec, { dampening: options.dampening, actOrder: options.actOrder });
        quantized.set(name, g);
        // Both errors under the dampened Hessian GPTQ minimizes, over 64 of the output columns (each
        // costs K² per column: a diagnostic should not cost what GPTQ itself does).
        const stride = sampleStride(t.N, 64);
        errorsGptq.push(relativeOutputError(w, g, h, g.lambda, stride));
        errorsRtn.push(relativeOutputError(w, quantizeRtn(w, t.K, t.N, spec), h, g.lambda, stride));
      } else quantized.set(name, quantizeRtn(w, t.K, t.N, spec));
      done++;
      ctx.emit({ type: 'progress', message: `${options.method}: ${name}`, done, total: weights.size, phase: `${options.method} on ${weights.size} weights` });
    }
    // Embedding tables: always round-to-nearest (a lookup has no input activations to weigh errors by).
    // The table [V, H] read as B = tableᵀ [H, V], so blocks run along H and codes keep the table's order.
    for (const e of tables.targets) {
      const table = tensorToFloat32(e.weight);
      const t = new Float32Array(table.length);
      for (let v = 0; v < e.V; v++) for (let h = 0; h < e.H; h++) t[h * e.V + v] = table[v * e.H + h]!;
      quantized.set(e.weight.name ?? '', quantizeRtn(t, e.H, e.V, spec));
    }
    const summary = rewriteWeightMatMuls(model, targets, quantized, options.form, options.accuracyLevel, tables.targets);
    const out = join(ctx.outDir, 'model.onnx');
    await writeModelFile(model, out);
    const fp32Bytes = await modelFileBytes(modelPath);
    const bytes = await modelFileBytes(out);
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    return {
      metrics: {
        form: options.form,
        method: options.method,
        symmetric: spec.symmetric,
        bits: options.bits,
        blockSize: spec.blockSize === CHANNEL ? 0 : spec.blockSize,
        quantizedMatMuls: summary.quantizedMatMuls,
        quantizedEmbeddings: tables.targets.length,
        excluded,
        fp32Bytes,
        bytes,
        sizeRatio: fp32Bytes / bytes,
        calibrationTokens: tokens,
        ...(errorsGptq.length ? { outputError: mean(errorsGptq), rtnOutputError: mean(errorsRtn) } : {}),
      },
    };
  },
};

export default weightQuant;
