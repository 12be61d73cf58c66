// npm run bench — issue 14's figures on this machine, each with its noise and against its target:
//  1. qrun's start-up: `qrun validate recipes/bert-int8.yaml` as a whole process, from the bundle
//     bin/build-ahead.js keeps and (for comparison) through tsx, in turns;
//  2. the BERT-base quantize pipeline (load → export with random weights → qdq.insert → calibrate
//     percentile on 64 sentences → onnx.save) in one qrun process, twice with fresh caches: wall
//     time and peak RSS;
//  3. latency of the int8 forms of that FP32 graph with the pipeline's calibrated ranges
//     (bench/cpu-forms.ts): qrun's default (target: tensorrt), target: cpu, and mode: dynamic —
//     onnxruntime's quantize_dynamic graph node for node, the anchor — taking turns with FP32 in one
//     process, 2 intra-op threads, at 1×32, 1×128 and 8×128: INT8/FP32 and INT8/quantize_dynamic as
//     medians of per-iteration ratios with bootstrap 95% intervals.
// QRUN_BENCH_ITERATIONS (default 20) sets the iterations per shape; QRUN_BENCH_PROFILE=1 adds
// onnxruntime's kernel times at 1×128. The device job s1-speed measures the same on another CPU
// with Python onnxruntime's own quantize_dynamic as the anchor.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import ort from 'onnxruntime-node';
import type { Report } from '../src/report/build-report.ts';
import { formatTable } from '../src/report/summary.ts';
import { createSession } from '../src/runtime/session.ts';
import { buildForm, CPU_FORMS, readRanges } from './cpu-forms.ts';
import { formatOps, optimizedOps } from './graph-ops.ts';
import { kernelTimes } from './ort-profile.ts';
import { latestReport, QUANTIZE_STEPS_YAML } from './quantize-pipeline.ts';
import { fmtInterval, ratioInterval, spread } from './ratio-stats.ts';

/** Issue 14's targets. */
const TARGETS = {
  vsFp32: { '1×128': 0.4, '8×128': 0.3 } as Record<string, number>,
  vsDynamic: 0.9,
  pipelineWallS: 12,
  pipelinePeakBytes: 1.5e9,
  startupS: 0.5,
};
const SHAPES: [number, number][] = [
  [1, 32],
  [1, 128],
  [8, 128],
];

const REPO = fileURLToPath(new URL('..', import.meta.url));
const QRUN = join(REPO, 'bin/qrun.js');
const work = mkdtempSync(join(tmpdir(), 'qrun-bench-'));
const iterations = Number(process.env.QRUN_BENCH_ITERATIONS ?? 20);
const pass = (ok: boolean) => (ok ? 'pass' : 'FAIL');
const say = (line: string) => process.stderr.write(`${line}\n`);

const cpuInfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
const flags = new Set((/^flags\s*:(.*)$/m.exec(cpuInfo)?.[1] ?? '').trim().split(/\s+/));
const has = (f: string) => (flags.has(f) ? 'yes' : 'no');
const machine = `${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length} (AVX-512 VNNI ${has('avx512_vnni')}, AVX-VNNI ${has('avx_vnni')}, AMX-INT8 ${has('amx_int8')}, AVX2 ${has('avx2')}); load average ${readLoad()}`;
function readLoad(): string {
  return existsSync('/proc/loadavg') ? readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(', ') : '?';
}

// 1. Start-up, whole processes in turns (the first run builds the bundle if a source changed).
say('start-up…');
const startupRun = (env: Record<string, string>): number => {
  const t0 = performance.now();
  execFileSync(process.execPath, [QRUN, 'validate', join(REPO, 'recipes/bert-int8.yaml')], { env: { ...process.env, ...env }, stdio: 'ignore' });
  return (performance.now() - t0) / 1000;
};
startupRun({});
const startup = { bundle: [] as number[], tsx: [] as number[] };
for (let i = 0; i < 10; i++) {
  for (const k of i % 2 ? (['tsx', 'bundle'] as const) : (['bundle', 'tsx'] as const)) startup[k].push(startupRun({ QRUN_BUILD_AHEAD: k === 'bundle' ? '1' : '0' }));
}

// 2. The quantize pipeline as a user runs it: one qrun process, fresh cache, twice.
const modelDir = join(work, 'bert-base');
cpSync(join(REPO, 'models/bert-langid'), modelDir, { recursive: true, filter: (src) => !/onnx|safetensors/.test(src) });
cpSync(join(REPO, 'bench/bert-base.config.json'), join(modelDir, 'config.json'));
const recipe = join(work, 'bert-base.yaml');
writeFileSync(recipe, `name: bert-base-random\nmodel: ${modelDir}\ndata:\n  calibration: ${join(REPO, 'data/langid/calib.jsonl')}\nsteps:\n${QUANTIZE_STEPS_YAML}\n`);
const pipelines: { wall: number; report: Report; cache: string }[] = [];
for (let i = 1; i <= 2; i++) {
  say(`quantize pipeline in one process (${i}/2)…`);
  const cache = join(work, `cache-${i}`);
  const t0 = performance.now();
  const r = await execa(process.execPath, [QRUN, recipe, '--cache', cache, '--plain'], { reject: false, all: true });
  if (r.exitCode !== 0) {
    console.error(r.all);
    process.exit(1);
  }
  pipelines.push({ wall: (performance.now() - t0) / 1000, report: latestReport(cache), cache });
}
const best = pipelines.reduce((a, b) => (b.wall < a.wall ? b : a));
const peakMiB = Math.max(...pipelines.map((p) => p.report.run.peakRssMiB ?? 0));
const output = (id: string, name: string) => join(best.cache, 'cache', best.report.steps.find((s) => s.id === id)!.outputs[name]!.path);

// 3. The int8 forms, timed with FP32 in turns.
say('building the int8 forms…');
const fp32Path = output('export', 'model');
const ranges = readRanges(output('calibrate', 'stats'));
mkdirSync(join(work, 'forms'), { recursive: true });
const paths = new Map<string, string>([['fp32', fp32Path]]);
for (const f of CPU_FORMS) {
  const p = join(work, 'forms', `${f.name}.onnx`);
  writeFileSync(p, await buildForm(fp32Path, f, ranges));
  paths.set(f.name, p);
}
const SHOWN = ['tensorrt', 'cpu', 'dynamic'];
const label = (name: string) => CPU_FORMS.find((f) => f.name === name)?.label ?? name;
const fused = new Map<string, string>();
for (const name of SHOWN) fused.set(name, formatOps(await optimizedOps(paths.get(name)!, `${paths.get(name)}.optimized.onnx`)));
// Several sessions take turns: none may spin, or its idle threads slow the next one's run.
const sessions = new Map<string, ort.InferenceSession>();
for (const [name, p] of paths) if (name === 'fp32' || SHOWN.includes(name)) sessions.set(name, await createSession(p, { intraOpThreads: 2, allowSpinning: false }));
const inputNames = sessions.get('fp32')!.inputNames;
const feedsFor = (b: number, s: number): Record<string, ort.Tensor> =>
  Object.fromEntries(inputNames.map((n) => [n, new ort.Tensor('int64', BigInt64Array.from({ length: b * s }, (_, k) => (n === 'input_ids' ? BigInt(1000 + ((k * 7919) % 20000)) : n === 'attention_mask' ? 1n : 0n)), [b, s])]));
const latency: { shape: string; times: Map<string, number[]> }[] = [];
for (const [b, s] of SHAPES) {
  say(`latency ${b}×${s}…`);
  const feeds = feedsFor(b, s);
  const names = [...sessions.keys()];
  for (let w = 0; w < 3; w++) for (const n of names) await sessions.get(n)!.run(feeds);
  const times = new Map(names.map((n) => [n, [] as number[]]));
  const n = b * s >= 1024 ? Math.max(8, Math.round(iterations / 2)) : iterations;
  for (let i = 0; i < n; i++) {
    for (const name of i % 2 ? [...names].reverse() : names) {
      const t0 = performance.now();
      await sessions.get(name)!.run(feeds);
      times.get(name)!.push(performance.now() - t0);
    }
  }
  latency.push({ shape: `${b}×${s}`, times });
}
for (const s of sessions.values()) await s.release();
const profiles: string[] = [];
if (process.env.QRUN_BENCH_PROFILE) {
  const feeds = feedsFor(1, 128);
  for (const name of ['dynamic', 'cpu', 'tensorrt']) {
    const k = await kernelTimes(paths.get(name)!, feeds, work, name);
    profiles.push(`${name}: ${k.runMs.toFixed(1)} ms/run: ${[...k.byOp].sort(([, x], [, y]) => y - x).slice(0, 8).map(([op, ms]) => `${op} ${ms.toFixed(1)}`).join(', ')}`);
  }
}

// 4. The figures.
console.log(`\nqrun bench — ${machine}; onnxruntime-node ${best.report.tools['onnxruntime-node']}, Node ${process.version}\n`);
const sBundle = spread(startup.bundle);
console.log(
  `start-up, \`qrun validate recipes/bert-int8.yaml\` as a whole process (median [10th, 90th percentile] of 10 runs): ${fmtInterval(sBundle, 2, ' s')} (target ≤ ${TARGETS.startupS} s: ${pass(sBundle.median <= TARGETS.startupS)}); through tsx ${fmtInterval(spread(startup.tsx), 2, ' s')}; bundle/tsx ${fmtInterval(ratioInterval(startup.bundle, startup.tsx))}`,
);
const walls = pipelines.map((p) => p.wall);
console.log(
  `\nquantize pipeline (load, export BERT-base with random weights, qdq.insert, calibrate percentile on 64 sentences, save) in one qrun process: ${Math.min(...walls).toFixed(1)} s wall, the faster of ${walls.map((w) => w.toFixed(1)).join(' s and ')} s (target ≤ ${TARGETS.pipelineWallS} s: ${pass(Math.min(...walls) <= TARGETS.pipelineWallS)}); peak RSS ${((peakMiB * 2 ** 20) / 1e9).toFixed(2)} GB (target ≤ 1.5 GB: ${pass(peakMiB * 2 ** 20 <= TARGETS.pipelinePeakBytes)})`,
);
console.log(`  steps in the faster run: ${best.report.steps.map((s) => `${s.id} ${(s.durationMs / 1000).toFixed(2)} s`).join(', ')}; the rest is start-up and cache bookkeeping`);
console.log(`\nlatency, 2 intra-op threads, models in turns with FP32 in one process (${iterations} iterations per shape, half at 8×128); ratio = median of per-iteration ratios [bootstrap 95% interval]:\n`);
const rows: string[][] = [];
for (const { shape, times } of latency) {
  const fp32 = times.get('fp32')!;
  const dyn = times.get('dynamic')!;
  rows.push([shape, 'FP32', `${spread(fp32).median.toFixed(1)} ms`, '—', '', '—', '']);
  for (const name of SHOWN) {
    const t = times.get(name)!;
    const vsF = ratioInterval(t, fp32);
    const vsD = ratioInterval(t, dyn);
    const tf = TARGETS.vsFp32[shape];
    const static_ = name !== 'dynamic';
    rows.push([
      '',
      label(name),
      `${spread(t).median.toFixed(1)} ms`,
      fmtInterval(vsF),
      tf && static_ ? `≤ ${tf} ${pass(vsF.median <= tf)}` : '',
      name === 'dynamic' ? '1 (the anchor)' : fmtInterval(vsD),
      static_ ? `≤ ${TARGETS.vsDynamic} ${pass(vsD.median <= TARGETS.vsDynamic)}` : '',
    ]);
  }
}
console.log(formatTable(['shape', 'model', 'median', 'INT8/FP32', 'target', "INT8/quantize_dynamic's form", 'target'], rows));
console.log(`\nonnxruntime's optimized graphs (all):`);
for (const name of SHOWN) console.log(`  ${name}: ${fused.get(name)}`);
if (profiles.length) console.log(`\nkernel times at 1×128 (onnxruntime profiler, mean of 5 runs):\n  ${profiles.join('\n  ')}`);
console.log(`\nwork folder: ${work}`);
