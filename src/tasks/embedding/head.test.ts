// The pooling head against the same computation done by hand on the encoder's last_hidden_state:
// the same random weights exported twice (base, and embedding with each pooling mode), run through
// onnxruntime on a padded batch, and the pooled vector recomputed from the hidden states with the
// attention mask, as sentence_transformers/models/Pooling.py and Normalize.py do.
import { describe, expect, it } from 'vitest';
import { decodeModel, encodeModel } from '../../onnx/model-io.ts';
import { exportEncoder } from '../../export/export-encoder.ts';
import { parseEncoderConfig } from '../../export/encoder-config.ts';
import { RandomWeights } from '../../export/weight-source.ts';
import { encoderFeeds, graphInputs } from '../../runtime/feeds.ts';
import { createSession } from '../../runtime/session.ts';
import { poolingHead } from './head.ts';
import type { PoolingMode, PoolingSpec } from './pooling.ts';

const CONFIG = parseEncoderConfig(
  { model_type: 'bert', vocab_size: 50, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 32, initializer_range: 0.5 },
  'config.json',
);
// Three texts of different lengths: the padding of the shorter two must not reach their vectors.
const ROWS = [
  [2, 7, 9, 11, 3],
  [2, 5, 3],
  [2, 8, 8, 12, 13, 14, 3],
];

async function run(bytes: Uint8Array, rows: number[][]): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const session = await createSession(bytes, { intraOpThreads: 1 });
  try {
    const model = decodeModel(bytes);
    const out = await session.run(encoderFeeds(graphInputs(model.graph.input, new Set()), rows, 0));
    const t = out[session.outputNames[0]!]!;
    return { data: t.data as Float32Array, dims: t.dims };
  } finally {
    await session.release();
  }
}

/** Pooling.py on one row of last_hidden_state [seq, h] with `len` real tokens. */
function expected(hidden: Float32Array, seq: number, h: number, row: number, len: number, spec: PoolingSpec): number[] {
  const at = (t: number, d: number) => hidden[(row * seq + t) * h + d]!;
  let v = Array.from({ length: h }, (_, d) => {
    if (spec.mode === 'cls') return at(0, d);
    if (spec.mode === 'max') return Math.max(...Array.from({ length: len }, (_, t) => at(t, d)));
    const sum = Array.from({ length: len }, (_, t) => at(t, d)).reduce((a, b) => a + b, 0);
    return spec.mode === 'mean' ? sum / len : sum / Math.sqrt(len);
  });
  if (spec.normalize) {
    const norm = Math.max(Math.hypot(...v), 1e-12);
    v = v.map((x) => x / norm);
  }
  return v;
}

describe('embedding pooling head', () => {
  const modes: PoolingMode[] = ['mean', 'cls', 'max', 'mean_sqrt_len'];
  const cases = modes.flatMap((mode) => [false, true].map((normalize) => ({ mode, normalize, from: 'test' })));

  it.each(cases)('$mode pooling, normalize $normalize: sentence_embedding equals the pooled last_hidden_state over the mask', async (spec) => {
    const weights = () => new RandomWeights(7, CONFIG.initializerRange);
    const base = await exportEncoder(CONFIG, weights(), 'base');
    const embedding = await exportEncoder(CONFIG, weights(), 'embedding', poolingHead(spec));
    expect(embedding.model.graph.output.map((o) => [o.name, o.type!.tensorType!.shape!.dim.map((d) => d.dimParam ?? d.dimValue)])).toEqual([['sentence_embedding', ['batch', 16]]]);
    const hidden = await run(encodeModel(base.model), ROWS);
    const pooled = await run(encodeModel(embedding.model), ROWS);
    expect(pooled.dims).toEqual([3, 16]);
    const seq = hidden.dims[1]!;
    let worst = 0;
    ROWS.forEach((r, row) => {
      const want = expected(hidden.data, seq, 16, row, r.length, spec);
      want.forEach((w, d) => (worst = Math.max(worst, Math.abs(w - pooled.data[row * 16 + d]!))));
    });
    expect(worst).toBeLessThan(1e-5);
    if (spec.normalize) for (let row = 0; row < 3; row++) expect(Math.hypot(...pooled.data.subarray(row * 16, row * 16 + 16))).toBeCloseTo(1, 5);
  });
});
