// The two graph forms of a block-quantized MatMul weight (src/quant/weight-only/block-quant.ts):
//
// - `matmulnbits`: one com.microsoft.MatMulNBits node (onnxruntime's contrib operator, what its CPU
//   and CUDA kernels run as a fused dequantize + GEMM). Layout from onnxruntime's ContribOperators.md:
//   B uint8 [N, k_blocks, blob_size] with blob_size = block_size · bits / 8, codes packed along K inside
//   each block, low bits first; scales [N, k_blocks] of A's type; zero_points optional, uint8
//   [N, ceil(k_blocks · bits / 8)] packed the same way (absent: 2^(bits-1)). block_size must be a power
//   of two ≥ 16 (onnxruntime 1.30's CPU kernel: at most 256); a K that is not a multiple of it is
//   padded with the zero point (dequantizes to 0).
// - `qdq`: an opset-21 DequantizeLinear of int4/uint4 (int8/uint8) codes [K, N] with `axis: 0,
//   block_size` (scale and zero point [ceil(K / block), N]) feeding the unchanged float MatMul — the form
//   TensorRT and ModelOpt's INT4 ONNX use; one block over all of K is written as plain per-axis
//   (axis 1, scale [N]) quantization, which opset 13 already has. int4 tensors are packed two per byte,
//   element 0 in the low nibble (ONNX IR 10).
import type { NodeProto, TensorProto } from '../../onnx/types.ts';
import { intAttribute } from '../../onnx/graph.ts';
import { makeFloatTensor, makeInt8Tensor, makeUint8Tensor } from '../../onnx/tensor.ts';
import type { QuantizedWeight } from './block-quant.ts';

/** ONNX TensorProto data types for 4-bit integers (onnx.proto: UINT4 = 21, INT4 = 22). */
export const UINT4 = 21;
export const INT4 = 22;

export type WeightForm = 'matmulnbits' | 'qdq';

export interface FormNames {
  /** The float weight initializer's name: the new initializers are named after it. */
  weight: string;
  /** The MatMul node's name. */
  node: string;
}

export interface FormResult {
  nodes: NodeProto[];
  initializers: TensorProto[];
  /** Which opset (default domain) and IR version the form needs; com.microsoft when `msDomain`. */
  minOpset: number;
  minIrVersion: number;
  msDomain: boolean;
}

/** The largest block_size onnxruntime 1.30's MatMulNBits kernel accepts (16, 32, 64, 128, 256). */
export const NBITS_MAX_BLOCK = 256;

/**
 * The block size MatMulNBits is given: the requested one, or for one block over K (per-channel
 * scales) the power of two ≥ K, at most 256 — a longer K repeats the channel's scale (and zero point)
 * in each block of 256, which is the same per-channel quantization at one float per 256 weights.
 */
export function nbitsBlockSize(q: QuantizedWeight): number {
  if (q.blocks > 1) return q.blockSize;
  let b = 16;
  while (b < q.K && b < NBITS_MAX_BLOCK) b *= 2;
  return b;
}

/** The quantized weight's own block that storage block `b` (of `blockSize` rows) lies in. */
function sourceBlock(q: QuantizedWeight, b: number, blockSize: number): number {
  return Math.min(q.blocks - 1, Math.floor((b * blockSize) / q.blockSize));
}

/** Per storage block [N, blocks]: the scales and zero points, repeated where a quantized block spans several. */
export function nbitsScalesAndZeros(q: QuantizedWeight, blockSize = nbitsBlockSize(q)): { blocks: number; scales: Float32Array; zeroPoints: Uint8Array } {
  const blocks = Math.ceil(q.K / blockSize);
  const scales = new Float32Array(q.N * blocks);
  const zeroPoints = new Uint8Array(q.N * blocks);
  for (let n = 0; n < q.N; n++) {
    for (let b = 0; b < blocks; b++) {
      const src = n * q.blocks + sourceBlock(q, b, blockSize);
      scales[n * blocks + b] = q.scales[src]!;
      zeroPoints[n * blocks + b] = q.zeroPoints[src]!;
    }
  }
  return { blocks, scales, zeroPoints };
}

/** Packs codes u[n·K + k] into MatMulNBits' B [N, blocks, blob] (padding with each block's zero point). */
export function packNbitsB(q: QuantizedWeight, blockSize = nbitsBlockSize(q)): Uint8Array {
  const blocks = Math.ceil(q.K / blockSize);
  const blob = (blockSize * q.bits) / 8;
  const out = new Uint8Array(q.N * blocks * blob);
  const perByte = 8 / q.bits;
  for (let n = 0; n < q.N; n++) {
    for (let b = 0; b < blocks; b++) {
      const zero = q.zeroPoints[n * q.blocks + sourceBlock(q, b, blockSize)]!;
      const base = (n * blocks + b) * blob;
      for (let i = 0; i < blockSize; i++) {
        const k = b * blockSize + i;
        const u = k < q.K ? q.codes[n * q.K + k]! : zero;
        const byte = base + Math.floor(i / perByte);
        out[byte] = out[byte]! | (u << ((i % perByte) * q.bits));
      }
    }
  }
  return out;
}

/** MatMulNBits' packed zero points, uint8 [N, ceil(blocks · bits / 8)], from [N, blocks] values. */
export function packNbitsZeroPoints(zeroPoints: Uint8Array, N: number, blocks: number, bits: number): Uint8Array {
  const perByte = 8 / bits;
  const row = Math.ceil(blocks / perByte);
  const out = new Uint8Array(N * row);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      const byte = n * row + Math.floor(b / perByte);
      out[byte] = out[byte]! | (zeroPoints[n * blocks + b]! << ((b % perByte) * bits));
    }
  }
  return out;
}

/** Packs 4-bit values (given as integers in [-8, 7] or [0, 15]) two per byte, element 0 low: ONNX int4/uint4 raw_data. */
export function packNibbles(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) out[i >> 1] = out[i >> 1]! | ((values[i]! & 0x0f) << ((i & 1) * 4));
  return out;
}

/**
 * MatMulNBits replacing `MatMul(A, B)`: same inputs A and output, B as packed codes. `accuracyLevel`
 * 0 computes in float32 (exactly the dequantized weights); 4 lets onnxruntime quantize A to int8 per
 * block (faster on VNNI/AMX CPUs, not exact).
 */
export function matmulNbitsForm(q: QuantizedWeight, a: string, output: string, names: FormNames, accuracyLevel: number): FormResult {
  const blockSize = nbitsBlockSize(q);
  const { blocks, scales, zeroPoints } = nbitsScalesAndZeros(q, blockSize);
  const blob = (blockSize * q.bits) / 8;
  const bName = `${names.weight}_Q${q.bits}`;
  const sName = `${names.weight}_scales`;
  const initializers: TensorProto[] = [makeUint8Tensor(bName, [q.N, blocks, blob], packNbitsB(q, blockSize)), makeFloatTensor(sName, [q.N, blocks], scales)];
  const inputs = [a, bName, sName];
  if (!q.symmetric) {
    const zName = `${names.weight}_zero_points`;
    const perByte = 8 / q.bits;
    initializers.push(makeUint8Tensor(zName, [q.N, Math.ceil(blocks / perByte)], packNbitsZeroPoints(zeroPoints, q.N, blocks, q.bits)));
    inputs.push(zName);
  }
  const node: NodeProto = {
    name: `${names.node}_Q${q.bits}`,
    opType: 'MatMulNBits',
    domain: 'com.microsoft',
    input: inputs,
    output: [output],
    attribute: [intAttribute('K', q.K), intAttribute('N', q.N), intAttribute('bits', q.bits), intAttribute('block_size', blockSize), intAttribute('accuracy_level', accuracyLevel)],
  };
  return { nodes: [node], initializers, minOpset: 0, minIrVersion: 0, msDomain: true };
}

/**
 * DequantizeLinear (block-wise along K, or per output column for one block) of the codes [K, N],
 * whose output replaces B as the MatMul's second input. Returns the DequantizeLinear node; the caller
 * rewires the MatMul to `dequantized`.
 */
export function qdqForm(q: QuantizedWeight, dequantized: string, names: FormNames): FormResult {
  const { K, N, bits } = q;
  const half = 2 ** (bits - 1);
  const qName = `${names.weight}_quantized`;
  const sName = `${names.weight}_scale`;
  const zName = `${names.weight}_zero_point`;
  const perAxis = q.blocks === 1;
  // Codes transposed back to the weight's own [K, N] layout.
  const values = new Int16Array(K * N);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) values[k * N + n] = q.symmetric ? q.codes[n * K + k]! - half : q.codes[n * K + k]!;
  // Scales [blocks, N] (per axis: [N]).
  const scales = new Float32Array(q.blocks * N);
  const zeros = new Int16Array(q.blocks * N);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < q.blocks; b++) {
      scales[b * N + n] = q.scales[n * q.blocks + b]!;
      zeros[b * N + n] = q.zeroPoints[n * q.blocks + b]!;
    }
  }
  const sDims = perAxis ? [N] : [q.blocks, N];
  const codeTensor = (name: string, dims: number[], v: Int16Array): TensorProto => {
    if (bits === 4) return { name, dims, dataType: q.symmetric ? INT4 : UINT4, rawData: packNibbles(v) };
    return q.symmetric ? makeInt8Tensor(name, dims, Int8Array.from(v)) : makeUint8Tensor(name, dims, Uint8Array.from(v));
  };
  const initializers: TensorProto[] = [codeTensor(qName, [K, N], values), makeFloatTensor(sName, sDims, scales)];
  const inputs = [qName, sName];
  if (!q.symmetric) {
    initializers.push(codeTensor(zName, sDims, zeros));
    inputs.push(zName);
  }
  const attribute = perAxis ? [intAttribute('axis', 1)] : [intAttribute('axis', 0), intAttribute('block_size', q.blockSize)];
  const node: NodeProto = { name: `${names.node}/weight/DequantizeLinear`, opType: 'DequantizeLinear', domain: '', input: inputs, output: [dequantized], attribute };
  return { nodes: [node], initializers, minOpset: perAxis && bits === 8 ? 13 : 21, minIrVersion: bits === 4 ? 10 : 0, msDomain: false };
}

/**
 * A token-embedding Gather(table [V, H], ids) with the table quantized along H. `q` holds the table
 * as quantizeRtn gives it for K = H, N = V (so its codes u[v·H + h] are the table's own row-major
 * order): matmulnbits form: com.microsoft.GatherBlockQuantized with uint8 data [V, ceil(H·bits/8)]
 * packed along H, low bits first, scales [V, blocks], packed zero points when asymmetric
 * (onnxruntime's layout, the same as MatMulNBits' B row by row); qdq form: an opset-21
 * DequantizeLinear (axis 1, block_size) of int4/uint4 (int8/uint8) [V, H] feeding the Gather.
 */
export function gatherForm(q: QuantizedWeight, gather: NodeProto, names: FormNames, form: WeightForm): FormResult {
  const V = q.N;
  const H = q.K;
  const half = 2 ** (q.bits - 1);
  const indices = gather.input[1]!;
  const output = gather.output[0]!;
  if (form === 'matmulnbits') {
    const blockSize = nbitsBlockSize(q);
    const { blocks, scales, zeroPoints } = nbitsScalesAndZeros(q, blockSize);
    const perByte = 8 / q.bits;
    const rowBytes = Math.ceil(H / perByte);
    const data = new Uint8Array(V * rowBytes);
    for (let v = 0; v < V; v++) for (let h = 0; h < H; h++) {
        const at = v * rowBytes + Math.floor(h / perByte);
        data[at] = data[at]! | (q.codes[v * H + h]! << ((h % perByte) * q.bits));
      }
    const dName = `${names.weight}_Q${q.bits}`;
    const sName = `${names.weight}_scales`;
    const initializers: TensorProto[] = [makeUint8Tensor(dName, [V, rowBytes], data), makeFloatTensor(sName, [V, blocks], scales)];
    const inputs = [dName, indices, sName];
    if (!q.symmetric) {
      const zName = `${names.weight}_zero_points`;
      initializers.push(makeUint8Tensor(zName, [V, Math.ceil(blocks / perByte)], packNbitsZeroPoints(zeroPoints, V, blocks, q.bits)));
      inputs.push(zName);
    }
    const node: NodeProto = {
      name: `${names.node}_Q${q.bits}`,
      opType: 'GatherBlockQuantized',
      domain: 'com.microsoft',
      input: inputs,
      output: [output],
      attribute: [intAttribute('gather_axis', 0), intAttribute('quantize_axis', 1), intAttribute('block_size', blockSize), intAttribute('bits', q.bits)],
    };
    return { nodes: [node], initializers, minOpset: 0, minIrVersion: 0, msDomain: true };
  }
  const qName = `${names.weight}_quantized`;
  const sName = `${names.weight}_scale`;
  const zName = `${names.weight}_zero_point`;
  const dq = `${names.weight}_DequantizeLinear_Output`;
  const perAxis = q.blocks === 1;
  const values = Int16Array.from(q.codes, (u) => (q.symmetric ? u - half : u));
  const codeTensor = (name: string, dims: number[], v: Int16Array): TensorProto => {
    if (q.bits === 4) return { name, dims, dataType: q.symmetric ? INT4 : UINT4, rawData: packNibbles(v) };
    return q.symmetric ? makeInt8Tensor(name, dims, Int8Array.from(v)) : makeUint8Tensor(name, dims, Uint8Array.from(v));
  };
  const sDims = perAxis ? [V] : [V, q.blocks];
  const initializers: TensorProto[] = [codeTensor(qName, [V, H], values), makeFloatTensor(sName, sDims, q.scales.slice())];
  const inputs = [qName, sName];
  if (!q.symmetric) {
    initializers.push(codeTensor(zName, sDims, Int16Array.from(q.zeroPoints)));
    inputs.push(zName);
  }
  const attribute = perAxis ? [intAttribute('axis', 0)] : [intAttribute('axis', 1), intAttribute('block_size', q.blockSize)];
  const dqNode: NodeProto = { name: `${names.node}/weight/DequantizeLinear`, opType: 'DequantizeLinear', domain: '', input: inputs, output: [dq], attribute };
  const newGather: NodeProto = { ...gather, input: [dq, ...gather.input.slice(1)] };
  return { nodes: [dqNode, newGather], initializers, minOpset: perAxis && q.bits === 8 ? 13 : 21, minIrVersion: q.bits === 4 ? 10 : 0, msDomain: false };
}
