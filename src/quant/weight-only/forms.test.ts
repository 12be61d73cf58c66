// The two weight-only forms through onnxruntime-node: a MatMulNBits model and a block-wise QDQ model
// built from the same quantized weights give what a float MatMul with the dequantized weights gives,
// for 4 and 8 bits, symmetric and with zero points, K not a multiple of the block, N odd, and one
// block per output channel. A packing mistake (nibble order, block layout, zero points) moves outputs
// by the size of the weights, not by rounding.
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { model, node, run, valueInfo } from '../../../tests/helpers/onnx-build.ts';
import { seededRandom } from '../../../tests/helpers/temp.ts';
import { makeFloatTensor } from '../../onnx/tensor.ts';
import { DataType, type ModelProto } from '../../onnx/types.ts';
import { dequantize, quantizeRtn, type BlockSpec } from './block-quant.ts';
import { packNibbles } from './forms.ts';
import { embeddingGathers, rewriteWeightMatMuls, weightMatMuls } from './rewrite.ts';

const rand = seededRandom(11);
const randoms = (n: number) => Float32Array.from({ length: n }, () => rand() * 2 - 1);

/** x [2, 3, K] → MatMul(x, w [K, N]) + bias → y; opset 21, IR 10. */
function matmulModel(K: number, N: number, w: Float32Array): ModelProto {
  const bias = Float32Array.from({ length: N }, (_, n) => (n % 5) - 2);
  const m = model({
    nodes: [node('MatMul', ['x', 'w'], ['h'], 'layer/MatMul'), node('Add', ['h', 'bias'], ['y'], 'layer/Add')],
    inputs: [valueInfo('x', DataType.FLOAT, [2, 3, K])],
    outputs: [valueInfo('y', DataType.FLOAT, [2, 3, N])],
    initializers: [makeFloatTensor('w', [K, N], w), makeFloatTensor('bias', [N], bias)],
  });
  m.opsetImport = [{ domain: '', version: 21 }];
  m.irVersion = 10;
  return m;
}

function maxRelativeError(ref: Float32Array, got: Float32Array): number {
  let err = 0;
  let mag = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(ref[i]! - got[i]!));
    mag = Math.max(mag, Math.abs(ref[i]!));
  }
  return err / mag;
}

const CASES: [string, BlockSpec][] = [
  ['int4 symmetric, block 32', { bits: 4, blockSize: 32, symmetric: true }],
  ['uint4 zero points, block 32', { bits: 4, blockSize: 32, symmetric: false }],
  ['uint4 zero points, block 16', { bits: 4, blockSize: 16, symmetric: false }],
  ['int4 symmetric, block 64', { bits: 4, blockSize: 64, symmetric: true }],
  ['int8 symmetric, block 32', { bits: 8, blockSize: 32, symmetric: true }],
  ['uint8 zero points, block 32', { bits: 8, blockSize: 32, symmetric: false }],
  ['int8 per output channel', { bits: 8, blockSize: 1 << 30, symmetric: true }],
  ['uint4 per output channel', { bits: 4, blockSize: 1 << 30, symmetric: false }],
];

describe('weight-only forms in onnxruntime', () => {
  // K = 70: two full blocks of 32 and a short one of 6 (five of 16 with 6 left); N = 13 is odd.
  const K = 70;
  const N = 13;
  for (const [label, spec] of CASES) {
    it.each(['matmulnbits', 'qdq'] as const)(`${label}: %s equals the float MatMul of the dequantized weights`, async (form) => {
      const w = randoms(K * N);
      const x = new ort.Tensor('float32', randoms(6 * K), [2, 3, K]);
      const q = quantizeRtn(w, K, N, spec);
      const ref = (await run(matmulModel(K, N, dequantize(q)), { x })).y!.data as Float32Array;
      const m = matmulModel(K, N, w);
      const { targets } = weightMatMuls(m);
      const summary = rewriteWeightMatMuls(m, targets, new Map([['w', q]]), form, 0);
      expect(summary).toEqual({ quantizedMatMuls: 1, removedWeights: 1 });
      expect(m.graph.node.map((n) => n.opType)).toEqual(form === 'matmulnbits' ? ['MatMulNBits', 'Add'] : ['DequantizeLinear', 'MatMul', 'Add']);
      const got = (await run(m, { x })).y!.data as Float32Array;
      expect(maxRelativeError(ref, got)).toBeLessThanOrEqual(1e-5);
      // And the quantization itself is not a no-op: the float weights give other outputs.
      const float = (await run(matmulModel(K, N, w), { x })).y!.data as Float32Array;
      expect(maxRelativeError(float, got)).toBeGreaterThan(1e-4);
    });
  }

  it.each(['matmulnbits', 'qdq'] as const)('per output channel over K = 300 (> 256, MatMulNBits\' largest block): %s equals the float MatMul', async (form) => {
    const [K2, N2] = [300, 5];
    const w = randoms(K2 * N2);
    const x = new ort.Tensor('float32', randoms(6 * K2), [2, 3, K2]);
    for (const spec of [{ bits: 8, blockSize: 1 << 30, symmetric: true }, { bits: 4, blockSize: 1 << 30, symmetric: false }] as BlockSpec[]) {
      const q = quantizeRtn(w, K2, N2, spec);
      const ref = (await run(matmulModel(K2, N2, dequantize(q)), { x })).y!.data as Float32Array;
      const m = matmulModel(K2, N2, w);
      rewriteWeightMatMuls(m, weightMatMuls(m).targets, new Map([['w', q]]), form, 0);
      expect(maxRelativeError(ref, (await run(m, { x })).y!.data as Float32Array)).toBeLessThanOrEqual(1e-5);
    }
  });

  it.each(['matmulnbits', 'qdq'] as const)('embedding tables (V = 13, H = 70): %s gathers the rows of the dequantized table', async (form) => {
    const [V, H] = [13, 70];
    const table = randoms(V * H);
    const ids = new ort.Tensor('int64', BigInt64Array.from([3n, 0n, 12n, 3n, 7n, 1n]), [2, 3]);
    const gatherModel = (t: Float32Array) => {
      const m = model({ nodes: [node('Gather', ['table', 'ids'], ['y'], 'wte/Gather')], inputs: [valueInfo('ids', DataType.INT64, [2, 3])], outputs: [valueInfo('y', DataType.FLOAT, [2, 3, H])], initializers: [makeFloatTensor('table', [V, H], t)] });
      m.opsetImport = [{ domain: '', version: 21 }];
      m.irVersion = 10;
      return m;
    };
    for (const spec of [...CASES.map(([, s]) => s), { bits: 4, blockSize: 1 << 30, symmetric: true } as BlockSpec]) {
      // The table [V, H] as B = tableᵀ [H, V]: blocks along H, codes in the table's own order.
      const t = new Float32Array(V * H);
      for (let v = 0; v < V; v++) for (let h = 0; h < H; h++) t[h * V + v] = table[v * H + h]!;
      const q = quantizeRtn(t, H, V, spec);
      const deqT = dequantize(q);
      const deq = new Float32Array(V * H);
      for (let v = 0; v < V; v++) for (let h = 0; h < H; h++) deq[v * H + h] = deqT[h * V + v]!;
      const ref = (await run(gatherModel(deq), { ids })).y!.data as Float32Array;
      const m = gatherModel(table);
      const { targets } = embeddingGathers(m);
      rewriteWeightMatMuls(m, [], new Map([['table', q]]), form, 0, targets);
      expect(m.graph.node.map((n) => n.opType)).toEqual(form === 'matmulnbits' ? ['GatherBlockQuantized'] : ['DequantizeLinear', 'Gather']);
      expect(m.graph.initializer.some((i) => i.name === 'table')).toBe(false);
      expect(maxRelativeError(ref, (await run(m, { ids })).y!.data as Float32Array)).toBeLessThanOrEqual(1e-6);
    }
  });

  it('packs int4 two per byte, element 0 in the low nibble (ONNX IR 10)', () => {
    expect(Array.from(packNibbles([1, 2, -1, 7, -8]))).toEqual([0x21, 0x7f, 0x08]);
  });
});
