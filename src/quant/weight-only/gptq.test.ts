// GPTQ on a synthetic linear layer whose inputs have outlier channels and correlations (what a
// LayerNorm output feeding a decoder's projections looks like): against round-to-nearest at the same
// bits and blocks, the layer's output error on held-out activations, measured through onnxruntime-node
// on the MatMulNBits model, must be clearly lower.
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { model, node, run, valueInfo } from '../../../tests/helpers/onnx-build.ts';
import { seededRandom } from '../../../tests/helpers/temp.ts';
import { makeFloatTensor } from '../../onnx/tensor.ts';
import { DataType, type ModelProto } from '../../onnx/types.ts';
import { quantizeRtn, type BlockSpec, type QuantizedWeight } from './block-quant.ts';
import { quantizeGptq, upperInverseFactor } from './gptq.ts';
import { rewriteWeightMatMuls, weightMatMuls } from './rewrite.ts';
import { quantizationLoss } from './output-error.ts';

const rand = seededRandom(5);
const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());

/** T tokens × K inputs: a few shared latent factors (correlation) plus noise, channels 3 and 17 ×25. */
function activations(T: number, K: number, mix: Float64Array, latent: number): Float32Array {
  const x = new Float32Array(T * K);
  const z = new Float64Array(latent);
  for (let t = 0; t < T; t++) {
    for (let l = 0; l < latent; l++) z[l] = gauss();
    for (let k = 0; k < K; k++) {
      let v = 0.3 * gauss();
      for (let l = 0; l < latent; l++) v += mix[k * latent + l]! * z[l]!;
      x[t * K + k] = k === 3 || k === 17 ? 25 * v : v;
    }
  }
  return x;
}

function gram(x: Float32Array, T: number, K: number): Float64Array {
  const h = new Float64Array(K * K);
  for (let t = 0; t < T; t++) for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) h[i * K + j] = h[i * K + j]! + x[t * K + i]! * x[t * K + j]!;
  return h;
}

function layer(K: number, N: number, w: Float32Array, T: number): ModelProto {
  return model({
    nodes: [node('MatMul', ['x', 'w'], ['y'], 'proj')],
    inputs: [valueInfo('x', DataType.FLOAT, [T, K])],
    outputs: [valueInfo('y', DataType.FLOAT, [T, N])],
    initializers: [makeFloatTensor('w', [K, N], w)],
  });
}

async function outputError(q: QuantizedWeight, w: Float32Array, x: Float32Array, T: number): Promise<number> {
  const feeds = { x: new ort.Tensor('float32', x, [T, q.K]) };
  const ref = (await run(layer(q.K, q.N, w, T), feeds)).y!.data as Float32Array;
  const m = layer(q.K, q.N, w, T);
  rewriteWeightMatMuls(m, weightMatMuls(m).targets, new Map([['w', q]]), 'matmulnbits', 0);
  const got = (await run(m, feeds)).y!.data as Float32Array;
  let e = 0;
  let s = 0;
  for (let i = 0; i < ref.length; i++) (e += (ref[i]! - got[i]!) ** 2), (s += ref[i]! ** 2);
  return e / s;
}

describe('GPTQ', () => {
  it('upperInverseFactor gives U with Uᵀ U = H⁻¹', () => {
    const K = 9;
    const a = Float64Array.from({ length: K * K }, () => gauss());
    const h = new Float64Array(K * K);
    for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) for (let p = 0; p < K; p++) h[i * K + j] = h[i * K + j]! + a[i * K + p]! * a[j * K + p]!;
    for (let i = 0; i < K; i++) h[i * K + i] = h[i * K + i]! + 0.5;
    const u = upperInverseFactor(h, K)!;
    for (let i = 0; i < K; i++) for (let j = 0; j < i; j++) expect(u[i * K + j]).toBe(0);
    // (Uᵀ U) H = I
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) {
        let v = 0;
        for (let p = 0; p < K; p++) {
          let utu = 0;
          for (let r = 0; r < K; r++) utu += u[r * K + i]! * u[r * K + p]!;
          v += utu * h[p * K + j]!;
        }
        expect(v).toBeCloseTo(i === j ? 1 : 0, 8);
      }
    }
  });

  const K = 96;
  const N = 40;
  const latent = 6;
  const mix = Float64Array.from({ length: K * latent }, () => gauss());
  const calib = activations(384, K, mix, latent);
  const heldOut = activations(256, K, mix, latent);
  const w = Float32Array.from({ length: K * N }, () => 0.1 * gauss());
  const h = gram(calib, 384, K);
  const specs: [string, BlockSpec, boolean][] = [
    ['int4 block 32 symmetric', { bits: 4, blockSize: 32, symmetric: true }, false],
    ['uint4 block 64 zero points', { bits: 4, blockSize: 64, symmetric: false }, false],
    ['int8 per channel', { bits: 8, blockSize: 1 << 30, symmetric: true }, false],
    ['int4 block 32 symmetric, act-order + clip', { bits: 4, blockSize: 32, symmetric: true, clip: true }, true],
  ];
  it.each(specs)('%s: lower layer output error on held-out activations than round-to-nearest', async (_label, spec, actOrder) => {
    const rtn = await outputError(quantizeRtn(w, K, N, spec), w, heldOut, 256);
    const gptq = await outputError(quantizeGptq(w, K, N, h, spec, { dampening: 0.01, actOrder }), w, heldOut, 256);
    console.log(`${_label}: relative output error RTN ${rtn.toExponential(3)}, GPTQ ${gptq.toExponential(3)} (${(gptq / rtn).toFixed(3)}×)`);
    expect(gptq).toBeLessThan(0.7 * rtn);
  });

  it.each([false, true])('the loss GPTQ accumulates is ‖X(W − Ŵ)‖² under the dampened Hessian (act-order %s)', (actOrder) => {
    const g = quantizeGptq(w, K, N, h, { bits: 4, blockSize: 32, symmetric: false }, { dampening: 0.01, actOrder });
    expect(g.lambda).toBeGreaterThan(0);
    const direct = quantizationLoss(w, g, h, g.lambda);
    expect(Math.abs(g.loss - direct) / direct).toBeLessThan(1e-9);
  });

  it('is deterministic and zeroes dead inputs', () => {
    const dead = Float64Array.from(h);
    for (let j = 0; j < K; j++) (dead[5 * K + j] = 0), (dead[j * K + 5] = 0);
    const spec: BlockSpec = { bits: 4, blockSize: 32, symmetric: true };
    const a = quantizeGptq(w, K, N, dead, spec);
    const b = quantizeGptq(w, K, N, dead, spec);
    expect(Buffer.from(a.codes).equals(Buffer.from(b.codes))).toBe(true);
    expect(Buffer.from(a.scales.buffer).equals(Buffer.from(b.scales.buffer))).toBe(true);
    for (let n = 0; n < N; n++) expect(a.codes[n * K + 5]).toBe(8);
  });
});
