// Two ONNX models timed against each other in one process, interleaved pair by pair (as the bench step
// times FP32 against INT8), on random token ids: the median of the per-pair ratios B/A with its
// block-bootstrap interval, per shape. For A/B questions about a graph form (a shifted calibration
// against an unshifted one) where the bench step's FP32-vs-INT8 ratios cannot be compared across runs.
//   npx tsx bench/ab-models.ts A.onnx B.onnx [--shapes 1x32,1x128,8x128] [--iterations 200]
import ort from 'onnxruntime-node';
import { readModelGraph } from '../src/runtime/model-file.ts';
import { createSession } from '../src/runtime/session.ts';
import { latencyRow, timeInterleavedBlocks } from '../plugins/bench/latency.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const [a, b] = process.argv.slice(2).filter((x, i, all) => !x.startsWith('--') && !all[i - 1]?.startsWith('--'));
if (!a || !b) throw new Error('usage: ab-models.ts A.onnx B.onnx [--shapes 1x32,1x128] [--iterations N]');
const shapes = (arg('shapes') ?? '1x32,1x128,8x128').split(',').map((s) => s.split('x').map(Number) as [number, number]);
const iterations = Number(arg('iterations') ?? 200);
const threads = Number(arg('threads') ?? 2);
const graph = await readModelGraph(a);
const inputs = graph.graph.input.map((i) => i.name);
const sa = await createSession(a, { intraOpThreads: threads });
const sb = await createSession(b, { intraOpThreads: threads });
for (const [batch, sequence] of shapes) {
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of inputs) {
    const ids = BigInt64Array.from({ length: batch * sequence }, (_, i) => BigInt(name === 'input_ids' ? 100 + ((i * 7919) % 900) : name === 'attention_mask' ? 1 : 0));
    feeds[name] = new ort.Tensor('int64', ids, [batch, sequence]);
  }
  const blocks = await timeInterleavedBlocks((m) => (m === 'fp32' ? sa : sb).run(feeds), { warmup: 20, iterations, blocks: 10 });
  const row = latencyRow({ batch, sequence }, blocks);
  console.log(`${batch}x${sequence}: B/A ${row.ratio.toFixed(3)} [${row.ratioInterval?.low.toFixed(3)}–${row.ratioInterval?.high.toFixed(3)}]  A p50 ${row.fp32.p50.toFixed(3)} ms, B p50 ${row.int8.p50.toFixed(3)} ms`);
}
await sa.release();
await sb.release();
