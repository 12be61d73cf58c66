// The `trtexec` step: builds a TensorRT engine from the (QDQ) ONNX model with NVIDIA's trtexec and
// reads its timing summary. trtexec is an external tool; where it is absent the step returns
// `skipped` with the fix, and the engine decides whether that is allowed (`optional: true`).
//
// Metrics: command (the exact command line, also when skipped), argv, tensorrtVersion, gpu, shapes
// (per input: min/opt/max), engineBuildSeconds, and unless skipInference: throughputQps, latencyMs,
// gpuComputeMs, enqueueTimeMs, h2dLatencyMs, d2hLatencyMs ({min,max,mean,median,p90,p95,p99}),
// totalHostWalltimeS, totalGpuComputeS.
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Artifact, Plugin, StepContext, StepResult } from '../../src/engine/plugin.ts';
import { readModel } from '../../src/onnx/model-io.ts';
import { ENGINE_FILE, TIMING_CACHE_FILE, renderCommand, trtexecArgs } from './command.ts';
import { trtexecErrors } from './errors.ts';
import { inputProfiles } from './input-shapes.ts';
import { optionsSchema, withDefaults, type TrtexecOptions } from './options.ts';
import { parseTrtexecOutput, tailLines } from './summary.ts';
import { deviceIndex, gpuNames, locateTrtexec, tensorrtVersionOf, type LocatedTool } from './tool.ts';

const LOG_FILE = 'trtexec.log';

const INSTALL_FIX =
  'install TensorRT (https://developer.nvidia.com/tensorrt, or run inside an NGC container such as nvcr.io/nvidia/tensorrt where trtexec is /opt/tensorrt/bin/trtexec) and put trtexec on PATH, or set QRUN_TRTEXEC=/path/to/trtexec';

function notFound(tool: LocatedTool): { reason: string; fix: string } {
  if (tool.source === 'PATH') return { reason: 'trtexec not found on PATH', fix: INSTALL_FIX };
  const where = tool.source === 'option' ? 'the step option `trtexec`' : '$QRUN_TRTEXEC';
  return { reason: `trtexec not found: ${tool.wanted} (from ${where}) is not an executable file`, fix: `correct ${where}, or ${INSTALL_FIX}` };
}

/** Milestones of a build worth showing while it runs (a build of a large model takes minutes). */
const MILESTONES: [RegExp, string][] = [
  [/Start parsing network model/, 'parsing the ONNX model'],
  [/Finished parsing network model/, 'building the engine (TensorRT tactic search)'],
  [/Engine built in/, 'engine built'],
  [/Starting inference/, 'timing inference'],
];

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

async function runTrtexec(executable: string, args: string[], command: string, ctx: StepContext): Promise<string> {
  const subprocess = execa(executable, args, { cwd: ctx.outDir, all: true, reject: false, stdin: 'ignore', cancelSignal: ctx.signal });
  for await (const line of subprocess.iterable({ from: 'all' })) {
    for (const [pattern, text] of MILESTONES) if (pattern.test(line)) ctx.emit({ type: 'progress', message: text });
    if (/\[E\]/.test(line)) ctx.emit({ type: 'log', level: 'warn', message: line });
  }
  const result = await subprocess;
  const output = String(result.all ?? '');
  if (result.isCanceled) throw new Error('trtexec was stopped (interrupted)');
  if (result.exitCode !== 0) throw trtexecErrors.failed(command, result.exitCode, result.signal, tailLines(output || String(result.message ?? ''), 20));
  return output;
}

const plugin: Plugin<TrtexecOptions> = {
  name: 'trtexec',
  version: '1.0.0',
  description: 'Builds a TensorRT engine from the ONNX model with trtexec (precision flags, min/opt/max shape profile, timing cache) and reads its latency and throughput summary.',
  optionsSchema,
  inputs: {
    model: { kind: ['qdq-model', 'onnx-model'], description: 'The ONNX model to build; a QDQ model builds with explicit INT8 quantization.' },
  },
  outputs: {
    engine: { kind: 'engine', path: ENGINE_FILE, optional: true, description: 'The serialized TensorRT engine (plan), for this TensorRT version and GPU only.' },
    log: { kind: 'file', path: LOG_FILE, optional: true, description: "trtexec's full output." },
    timingCache: { kind: 'file', path: TIMING_CACHE_FILE, optional: true, description: 'The builder timing cache (with `timingCache: true`).' },
  },
  // The engine depends on the TensorRT version and the GPU, and both are in the fingerprint, so a
  // built engine may be reused. (The timings in the metrics are then those of the first build; the
  // bench step measures afresh.)
  cacheable: true,

  async fingerprint(rawOptions) {
    const options = withDefaults(rawOptions);
    const tool = await locateTrtexec(options.trtexec);
    if (!tool.path) return { trtexec: 'absent' };
    const gpus = await gpuNames();
    return { tensorrt: await tensorrtVersionOf(tool.path), gpu: gpus?.[deviceIndex(options.extraArgs)] ?? 'unknown' };
  },

  async run(rawOptions, inputs, _sources, ctx): Promise<StepResult> {
    const options = withDefaults(rawOptions);
    const model = inputs.model as Artifact;
    const profiles = inputProfiles(await readModel(model.path), options.shapes);
    const args = trtexecArgs(model.path, profiles, options);
    const tool = await locateTrtexec(options.trtexec);
    const command = renderCommand(tool.path ?? tool.wanted, args);
    const shapes = Object.fromEntries(profiles.map((p) => [p.name, { min: p.min, opt: p.opt, max: p.max }]));
    if (!tool.path) return { skipped: notFound(tool), metrics: { command, argv: args, shapes } };

    ctx.emit({ type: 'progress', message: `running ${command}` });
    const output = await runTrtexec(tool.path, args, command, ctx);
    await writeFile(join(ctx.outDir, LOG_FILE), output);
    const { passed, ...summary } = parseTrtexecOutput(output);
    if (!passed) ctx.emit({ type: 'log', level: 'warn', message: 'trtexec exited 0 but did not print "&&&& PASSED"; see trtexec.log' });
    if (!(await exists(join(ctx.outDir, ENGINE_FILE)))) {
      ctx.emit({ type: 'log', level: 'warn', message: `trtexec succeeded but wrote no ${ENGINE_FILE}; check extraArgs` });
    }
    const gpus = await gpuNames();
    const gpu = gpus?.[deviceIndex(options.extraArgs)];
    return { metrics: { command, argv: args, shapes, ...(gpu ? { gpu } : {}), ...summary } };
  },
};

export default plugin;
