// Logits of a model over prepared batches, with onnxruntime (the same settings bench uses), and the
// numbers sensitivity compares: SQNR and agreement against FP32, accuracy where labels are known.
import type ort from 'onnxruntime-node';
import { rowsOf } from '../../src/data/model-batches.ts';
import { compareLogits, sqnrDb } from '../../src/quant/agreement.ts';
import { createSession } from '../../src/runtime/session.ts';

export interface PreparedBatch {
  indices: number[];
  feeds: Record<string, ort.Tensor>;
}

/** `output`: the graph output holding the logits (src/runtime/logits-output.ts chooses it; never "the first"). */
export async function logitsOf(model: Uint8Array | string, batches: PreparedBatch[], samples: number, output: string): Promise<Float32Array[]> {
  const session = await createSession(model, { optimization: 'basic' });
  try {
    const rows: Float32Array[] = new Array(samples);
    for (const b of batches) {
      const out = await session.run(b.feeds, [output]);
      const r = rowsOf(out[output]!);
      b.indices.forEach((i, k) => (rows[i] = r[k]!));
    }
    return rows;
  } finally {
    await session.release();
  }
}

export interface Measurement {
  sqnrDb: number;
  agreement: number;
  maxAbsError: number;
  /** Label accuracy of the candidate where labels are known. */
  accuracy: number | null;
}

export function measure(reference: Float32Array[], candidate: Float32Array[], labels: (number | null)[]): Measurement {
  const a = compareLogits(reference, candidate, labels);
  return { sqnrDb: sqnrDb(reference, candidate), agreement: a.agreement, maxAbsError: a.maxAbsError, accuracy: a.candidateAccuracy };
}
