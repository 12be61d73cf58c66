// bench's evaluation for embeddings: both models embed the evaluation set (the same samples, batched
// by length so no padding enters the numbers), then src/tasks/embedding/similarity.ts compares them.
import type ort from 'onnxruntime-node';
import { rowsOf } from '../../data/model-batches.ts';
import type { TaskEvaluation, TaskScores } from '../task.ts';
import { EMBEDDING_OUTPUT } from './head.ts';
import { compareEmbeddings } from './similarity.ts';
import { taskErrors } from '../errors.ts';

/** `sentence_embedding`, else the only output of rank 2 (an embedding exported by another tool). */
function embeddingOutput(session: ort.InferenceSession): string {
  if (session.outputNames.includes(EMBEDDING_OUTPUT)) return EMBEDDING_OUTPUT;
  return session.outputNames[0]!;
}

export async function evaluateEmbeddings(run: TaskEvaluation): Promise<TaskScores> {
  const refOut = embeddingOutput(run.fp32);
  const candOut = embeddingOutput(run.int8);
  const n = run.fp32Batches.samples;
  const fp32: Float32Array[] = new Array(n);
  const int8: Float32Array[] = new Array(n);
  const batches = run.fp32Batches.batches;
  for (let b = 0; b < batches.length; b++) {
    if (run.signal.aborted) throw new Error('interrupted');
    const rb = batches[b]!;
    const rt = (await run.fp32.run(rb.feeds()))[refOut]!;
    const ct = (await run.int8.run(run.int8Batches.batches[b]!.feeds()))[candOut]!;
    // One vector per text: last_hidden_state ([batch, sequence, hidden]) would be read as rows of garbage.
    for (const [t, s] of [[rt, run.fp32], [ct, run.int8]] as const) if (t.dims.length !== 2) throw taskErrors.noSentenceEmbedding([...s.outputNames], t.dims);
    const r = rowsOf(rt);
    const c = rowsOf(ct);
    rb.indices.forEach((i, k) => {
      fp32[i] = r[k]!;
      int8[i] = c[k]!;
    });
    run.progress(`embeddings: batch ${b + 1}/${batches.length}`, b + 1, batches.length);
  }
  const groups = run.fp32Batches.labels.map((l) => (l === null || l === undefined ? null : String(l)));
  const m = compareEmbeddings(fp32, int8, groups);
  return {
    metrics: { ...m, output: refOut },
    headline: {
      agreement: m.recallAt10,
      fp32Accuracy: m.fp32RetrievalAccuracy,
      int8Accuracy: m.int8RetrievalAccuracy,
      meanCosine: m.meanCosine,
      minCosine: m.minCosine,
      maxAbsError: m.maxAbsError,
    },
  };
}
