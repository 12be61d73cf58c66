// What the weights.quantize step reports (src/engine/plugin.ts MetricsDeclaration). Plain data, so the
// reports, the gate check and docs/recipe-reference.md read it without loading the plugin.
import type { MetricsDeclaration } from '../../src/engine/plugin.ts';

export const weightQuantMetrics: MetricsDeclaration = {
  form: { type: 'text', description: "The graph form written: 'matmulnbits' (com.microsoft.MatMulNBits) or 'qdq' (block-wise DequantizeLinear feeding the float MatMul)." },
  method: { type: 'text', description: "How the codes were chosen: 'rtn' (round to nearest) or 'gptq' (calibrated error compensation)." },
  bits: { unit: 'count', better: 'none', description: 'Bits per weight code.' },
  symmetric: { type: 'flag', description: 'Whether the codes are symmetric (no zero points stored).' },
  blockSize: { unit: 'count', better: 'none', description: 'Rows of K sharing a scale (0: one scale per output channel).' },
  quantizedMatMuls: { unit: 'count', better: 'none', description: 'MatMuls whose constant weight was quantized.' },
  quantizedEmbeddings: { unit: 'count', better: 'none', description: 'Embedding tables (Gathers) quantized (embeddings: true).' },
  excluded: { type: 'list', description: 'MatMuls kept in float by exclude.nodes.' },
  fp32Bytes: { unit: 'bytes', better: 'none', description: 'Size of the input model (the .onnx and its data files).' },
  bytes: { unit: 'bytes', better: 'lower', description: 'Size of the quantized model.' },
  sizeRatio: { unit: '×', better: 'higher', description: 'Input model size over quantized model size.' },
  calibrationTokens: { unit: 'count', better: 'none', description: 'Tokens the Hessians were collected over (gptq; 0 for rtn).' },
  outputError: {
    unit: 'ratio',
    better: 'lower',
    description: 'Mean over the quantized MatMuls of the relative squared output error on the calibration activations, ‖X(W−Ŵ)‖²/‖XW‖², from the Hessians dampened as GPTQ uses them, over 64 evenly spaced output columns of each weight (gptq only; absent for rtn).',
  },
  rtnOutputError: { unit: 'ratio', better: 'lower', description: 'The same error for round-to-nearest codes at the same bits and blocks, for comparison (gptq only).' },
};
