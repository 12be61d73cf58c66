// The bench's FP32 and INT8 models, and the QDQ forms of bench/placement-variants.ts, without their
// weights, to time them on another CPU (the one of the targets has AVX-512 VNNI; the one
// qrun is developed on may not) where Node and qrun are not installed: every initializer of 64 KiB
// or more becomes ONNX external data whose file is left out; time-on-cpu.py fills it with random
// values of each tensor's type (latency does not depend on the values) and times the models with
// Python onnxruntime. A few MB instead of 1.5 GB to copy.
//   npx tsx bench/other-cpu/strip-weights.ts /tmp/qrun-bench-XXXX OUT_DIR
//   (then on the other machine: taskset -c 0,1 python3 OUT_DIR/time-on-cpu.py)
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Report } from '../../src/report/build-report.ts';
import { decodeModel } from '../../src/onnx/model-io.ts';
import { writeModelFile } from '../../src/runtime/model-file.ts';
import { buildVariant, VARIANTS } from '../placement-variants.ts';

if (process.argv.length < 4) throw new Error('usage: strip-weights.ts BENCH_WORK_FOLDER OUT_DIR');
const [work, out] = process.argv.slice(2, 4) as [string, string];
const cache = join(work, 'cache');
const runs = readdirSync(join(cache, 'runs')).filter((d) => !d.endsWith('-matrix')).sort();
const report = JSON.parse(readFileSync(join(cache, 'runs', runs[runs.length - 1]!, 'report.json'), 'utf8')) as Report;
const output = (id: string, name: string) => join(cache, 'cache', report.steps.find((s) => s.id === id)!.outputs[name]!.path);

async function strip(bytes: Uint8Array, dir: string): Promise<void> {
  mkdirSync(join(out, dir), { recursive: true });
  const file = join(out, dir, 'model.onnx');
  await writeModelFile(decodeModel(bytes), file, { externalData: 'always', threshold: 65536 });
  rmSync(`${file}.data`);
}

rmSync(out, { recursive: true, force: true });
const fp32 = readFileSync(output('export', 'model'));
await strip(fp32, 'fp32');
await strip(readFileSync(output('save', 'model')), 'int8');
const stats = JSON.parse(readFileSync(output('calibrate', 'stats'), 'utf8')) as { tensors: { tensor: string; min: number; max: number; threshold: number }[] };
const ranges = new Map(stats.tensors.map((t) => [t.tensor, t]));
const rows = ['fp32\tFP32', 'int8\tqrun INT8 (defaults)'];
for (const [i, v] of VARIANTS.entries()) {
  if (i === 0) continue; // the defaults: the INT8 model above
  await strip(buildVariant(fp32, v, ranges), `v${i}`);
  rows.push(`v${i}\t${v.name}`);
}
writeFileSync(join(out, 'models.tsv'), `${rows.join('\n')}\n`);
copyFileSync(fileURLToPath(new URL('time-on-cpu.py', import.meta.url)), join(out, 'time-on-cpu.py'));
console.log(`${rows.length} models without weights in ${out}`);
