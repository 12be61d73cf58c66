// npm run bench — BERT-base-shaped INT8 against FP32, in one run, as ratios; and qrun's own cost.
// A BERT-base config (12 layers, hidden 768) gets random weights (onnx.export, seeded), qrun
// quantizes it (qdq.insert, calibrate on 64 real sentences, onnx.save), and the bench step times
// FP32 and INT8 interleaved after warm-up at 1×128 and 8×128. Each step runs in its own qrun
// process (--until), so its wall time and peak memory are its own. Prints medians and ratios only.
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { Report } from '../src/report/build-report.ts';
import type { LatencyRow } from '../plugins/bench/index.ts';
import { formatTable } from '../src/report/summary.ts';
import { createSession } from '../src/runtime/session.ts';
import { readModel } from '../src/onnx/model-io.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'qrun-bench-'));
const modelDir = join(work, 'bert-base');
cpSync(join(REPO, 'models/bert-langid'), modelDir, { recursive: true, filter: (src) => !/onnx|safetensors/.test(src) });
cpSync(join(REPO, 'bench/bert-base.config.json'), join(modelDir, 'config.json'));
const iterations = Number(process.env.QRUN_BENCH_ITERATIONS ?? 30);
const recipe = join(work, 'bert-base.yaml');
writeFileSync(
  recipe,
  `name: bert-base-random
model: ${modelDir}
data:
  calibration: ${join(REPO, 'data/langid/calib.jsonl')}
  evaluation: ${join(REPO, 'data/langid/eval.jsonl')}
steps:
  - { id: load, uses: hf.load, with: { maxLength: 128 } }
  - { id: export, uses: onnx.export, with: { weights: random, seed: 1 } }
  - { id: qdq, uses: qdq.insert }
  - { id: calibrate, uses: calibrate, with: { method: percentile, samples: 64 } }
  - { id: save, uses: onnx.save }
  - id: bench
    uses: bench
    with:
      samples: 128
      warmup: 5
      iterations: ${iterations}
      shapes: [{ batch: 1, sequence: 128 }, { batch: 8, sequence: 128 }]
`,
);
const cache = join(work, 'cache');

function latestReport(): Report {
  const runs = readdirSync(join(cache, 'runs')).filter((d) => !d.endsWith('-matrix')).sort();
  return JSON.parse(readFileSync(join(cache, 'runs', runs[runs.length - 1]!, 'report.json'), 'utf8')) as Report;
}

const costs: string[][] = [];
let pipelineWall = 0;
let pipelinePeak = 0;
for (const id of ['load', 'export', 'qdq', 'calibrate', 'save', 'bench']) {
  process.stderr.write(`running ${id}…\n`);
  const t0 = performance.now();
  const r = await execa(process.execPath, [join(REPO, 'bin/qrun.js'), recipe, '--cache', cache, '--until', id, '--plain'], { reject: false, all: true });
  const wall = (performance.now() - t0) / 1000;
  if (r.exitCode !== 0) {
    console.error(r.all);
    process.exit(1);
  }
  const report = latestReport();
  const step = report.steps.find((s) => s.id === id)!;
  const peak = report.run.peakRssMiB ?? 0;
  if (id !== 'bench') {
    pipelineWall += wall;
    pipelinePeak = Math.max(pipelinePeak, peak);
  }
  costs.push([id, step.plugin, `${(step.durationMs / 1000).toFixed(2)} s`, `${wall.toFixed(2)} s`, `${peak} MiB`]);
}

const report = latestReport();
const bench = report.steps.find((s) => s.id === 'bench')!.metrics as { latency: LatencyRow[]; agreement: number; maxAbsError: number; meanCosine: number; sizes: { fp32: number; int8: number } };

// What stays in float: onnxruntime's optimized INT8 graph, by operator.
const save = report.steps.find((s) => s.id === 'save')!;
const optimized = join(work, 'int8.optimized.onnx');
const session = await createSession(join(cache, 'cache', save.outputs.model!.path), { optimization: 'extended', optimizedModelFilePath: optimized });
await session.release();
const ops: Record<string, number> = {};
for (const n of (await readModel(optimized)).graph.node) {
  const k = n.domain ? `${n.domain}.${n.opType}` : n.opType;
  ops[k] = (ops[k] ?? 0) + 1;
}

console.log(`\nqrun bench — BERT-base shape (12 layers, hidden 768, random weights), onnxruntime-node ${report.tools['onnxruntime-node']}, ${report.machine.cpu} × ${report.machine.cores}\n`);
console.log(
  formatTable(
    ['shape', 'FP32 median', 'INT8 median', 'INT8/FP32', 'speed-up'],
    bench.latency.map((l) => [`${l.batch}×${l.sequence}`, `${l.fp32.p50.toFixed(1)} ms`, `${l.int8.p50.toFixed(1)} ms`, l.ratio.toFixed(3), `${l.speedup.toFixed(2)}×`]),
  ),
);
console.log(`\n(${iterations} interleaved iterations per model and shape after 5 warm-up runs; medians; the ratio is what to compare across machines)`);
console.log(`agreement with FP32 ${(bench.agreement * 100).toFixed(2)}% · max |Δ logit| ${bench.maxAbsError.toFixed(4)} · cosine ${bench.meanCosine.toFixed(5)} · size ${(bench.sizes.int8 / bench.sizes.fp32).toFixed(2)}× (random weights: agreement is indicative only)\n`);
console.log(formatTable(['step', 'plugin', 'step time', 'process wall', 'process peak RSS'], costs));
console.log(`\nquantize pipeline (load + export + qdq + calibrate + save): ${pipelineWall.toFixed(1)} s wall in separate processes, peak ${(pipelinePeak / 1024).toFixed(2)} GiB`);
console.log(`\nonnxruntime's optimized INT8 graph (extended level): ${Object.entries(ops).sort(([, a], [, b]) => b - a).map(([k, v]) => `${k} ${v}`).join(', ')}`);
console.log(`\nwork folder: ${work}`);
