// The `trtexec` step: builds a TensorRT engine from the (QDQ) ONNX model with NVIDIA's trtexec and
// reads its timing summary. trtexec is an external tool; where it is absent the step returns
// `skipped` with the fix, and the engine decides whether that is allowed (`optional: true`).
//
// Metrics: command and argv (the command line, also when skipped, with the model's cache path
// written as "$MODEL": the report must be the same from any cache; the log and the progress
// events have the real path), shapes (per input:
// min/opt/max) and shapeOrigin (recipe or derived, and from what), tensorrtVersion, device (the GPU
// trtexec reports), inferenceShapes, engineBuildSeconds, and unless skipInference: throughputQps,
// latencyMs, gpuComputeMs, enqueueTimeMs, h2dLatencyMs, d2hLatencyMs ({min,max,mean,median,p90,
// p95,p99}, milliseconds), totalHostWalltimeS, totalGpuComputeS. They sit in the report beside the
// bench step's onnxruntime numbers.
import { randomUUID } from 'node:crypto';
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Artifact, Plugin, StepContext, StepResult } from '../../src/engine/plugin.ts';
import { trtexecMetrics } from './metrics.ts';
import { readModelGraph } from '../../src/runtime/model-file.ts';
import { ENGINE_FILE, LAYER_INFO_FILE, PROFILE_FILE, TIMES_FILE, TIMING_CACHE_FILE, renderCommand, trtexecArgs } from './command.ts';
import { modelMaxSequence, resolveShapes } from './derive-shapes.ts';
import { ENGINE_INFO_FILE, type EngineInfo } from './engine-info.ts';
import { trtexecErrors } from './errors.ts';
import { inputProfiles } from './input-shapes.ts';
import { optionsSchema, withDefaults, type TrtexecOptions } from './options.ts';
import { parseTrtexecOutput, tailLines } from './summary.ts';
import { deviceIndex, gpuModel, locateTrtexec, queryGpus, selectGpu, tensorrtVersionOf, type LocatedTool } from './tool.ts';

const LOG_FILE = 'trtexec.log';

/** The model argument as the report shows it: set MODEL to the model file to paste the command. */
const MODEL_ARG = '--onnx="$MODEL"';

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
    hf: { kind: 'hf-model', optional: true, description: "config.json (max_position_embeddings): the longest sequence of a derived `max` shape." },
  },
  outputs: {
    engine: { kind: 'engine', path: ENGINE_FILE, optional: true, description: 'The serialized TensorRT engine (plan), for this TensorRT version and GPU only.' },
    log: { kind: 'file', path: LOG_FILE, optional: true, description: "trtexec's full output." },
    timingCache: { kind: 'file', path: TIMING_CACHE_FILE, optional: true, description: 'The builder timing cache (with `timingCache: true`).' },
    engineInfo: { kind: 'file', path: ENGINE_INFO_FILE, optional: true, description: 'The engine\'s profile shapes, TensorRT version and GPU (the triton step checks max_batch_size against it).' },
    times: { kind: 'file', path: TIMES_FILE, optional: true, description: 'Every timed inference (--exportTimes, with `exportTimes: true`).' },
    profile: { kind: 'file', path: PROFILE_FILE, optional: true, description: 'Per-layer times (--exportProfile, with `exportProfile: true`).' },
    layerInfo: { kind: 'file', path: LAYER_INFO_FILE, optional: true, description: 'Engine layers and their precisions (--exportLayerInfo, with `exportLayerInfo: true`).' },
  },
  metrics: trtexecMetrics,
  // An engine runs only on the TensorRT version and the GPU model it was built with, and both are in
  // the fingerprint, so a built engine is reused exactly where it can run. (The timings in the
  // metrics are then those of the first build; the bench step measures afresh.)
  cacheable: true,

  // Where trtexec is, without running it: `qrun plan` says "skip" for an optional engine step, and
  // `--only` does not require the cache to hold an engine this machine cannot build.
  async available(rawOptions) {
    const tool = await locateTrtexec(withDefaults(rawOptions).trtexec);
    return tool.path ? { ok: true } : { ok: false, ...notFound(tool) };
  },

  async fingerprint(rawOptions) {
    const options = withDefaults(rawOptions);
    const tool = await locateTrtexec(options.trtexec);
    if (!tool.path) return { trtexec: 'absent' };
    return { tensorrt: await tensorrtVersionOf(tool.path), ...(await gpuKey(deviceIndex(options.extraArgs))) };
  },

  async run(rawOptions, inputs, _sources, ctx): Promise<StepResult> {
    const options = withDefaults(rawOptions);
    const model = inputs.model as Artifact;
    const resolved = resolveShapes(options, await modelMaxSequence(inputs.hf?.path));
    // The graph's inputs only; trtexec reads the model (and the external data beside it) from its path.
    const profiles = inputProfiles(await readModelGraph(model.path), resolved);
    const args = trtexecArgs(model.path, profiles, options);
    const tool = await locateTrtexec(options.trtexec);
    const command = renderCommand(tool.path ?? tool.wanted, args);
    const shapes = Object.fromEntries(profiles.map((p) => [p.name, { min: p.min, opt: p.opt, max: p.max }]));
    const portable = args.map((a) => (a === `--onnx=${model.path}` ? MODEL_ARG : a));
    const described = { command: renderCommand(tool.path ?? tool.wanted, portable).replace(`'${MODEL_ARG}'`, MODEL_ARG), argv: portable, shapes, shapeOrigin: resolved.origin };
    if (!tool.path) return { skipped: notFound(tool), metrics: described };
    if (options.skipInference && (options.exportTimes || options.exportProfile)) {
      ctx.emit({ type: 'log', level: 'info', message: 'skipInference: no timed run, so no times.json / profile.json' });
    }

    ctx.emit({ type: 'progress', message: `running ${command}` });
    const output = await runTrtexec(tool.path, args, command, ctx);
    await writeFile(join(ctx.outDir, LOG_FILE), output);
    const { passed, ...summary } = parseTrtexecOutput(output);
    if (!passed) ctx.emit({ type: 'log', level: 'warn', message: 'trtexec exited 0 but did not print "&&&& PASSED"; see trtexec.log' });

    // The cache key named the GPU nvidia-smi sees as this device; if trtexec says it used another,
    // an engine kept under that key would be reused on the wrong GPU.
    const gpus = await queryGpus();
    const choice = gpus ? selectGpu(gpus, deviceIndex(options.extraArgs)) : { sure: false };
    if (choice.sure && choice.gpu && summary.device && !sameGpu(choice.gpu, summary.device)) {
      throw trtexecErrors.deviceMismatch(gpuModel(choice.gpu), gpuModel(summary.device));
    }
    const device = summary.device ?? (choice.gpu ? { name: choice.gpu.name, computeCapability: choice.gpu.computeCapability } : undefined);

    const built = await exists(join(ctx.outDir, ENGINE_FILE));
    if (built) {
      const info: EngineInfo = { tensorrtVersion: summary.tensorrtVersion, device, profiles: shapes };
      await writeFile(join(ctx.outDir, ENGINE_INFO_FILE), `${JSON.stringify(info, null, 2)}\n`);
    } else {
      ctx.emit({ type: 'log', level: 'warn', message: `trtexec succeeded but wrote no ${ENGINE_FILE}; check extraArgs` });
    }
    const exported = [];
    for (const file of [TIMES_FILE, PROFILE_FILE, LAYER_INFO_FILE]) if (await exists(join(ctx.outDir, file))) exported.push(file);
    return { metrics: { ...described, ...summary, ...(device ? { device } : {}), ...(exported.length ? { exported } : {}) } };
  },
};

/** Names compared without case and spacing: the driver reports the same string to both tools. */
function sameGpu(a: { name: string; computeCapability?: string }, b: { name: string; computeCapability?: string }): boolean {
  const norm = (s: string) => s.toLowerCase().replace(/\s+/g, ' ').trim();
  if (a.computeCapability && b.computeCapability && a.computeCapability !== b.computeCapability) return false;
  return norm(a.name) === norm(b.name);
}

/**
 * The GPU part of the cache key. Where the device is known: its model and compute capability.
 * Where CUDA's numbering may differ from nvidia-smi's (mixed models, no PCI_BUS_ID order): every
 * model on the machine and the variables that pick the device. Where no GPU can be identified at
 * all (no nvidia-smi, e.g. on Jetson): a fresh nonce, so the engine is rebuilt on every run rather
 * than ever reused on a GPU nobody checked.
 */
async function gpuKey(index: number): Promise<Record<string, unknown>> {
  const gpus = await queryGpus();
  if (!gpus) return { gpu: 'unidentified (no nvidia-smi): never reused', nonce: randomUUID() };
  const choice = selectGpu(gpus, index);
  if (choice.gpu && choice.sure) return { gpu: choice.gpu.name, computeCapability: choice.gpu.computeCapability ?? 'unknown' };
  return {
    gpus: [...new Set(gpus.map(gpuModel))].sort(),
    device: index,
    CUDA_VISIBLE_DEVICES: process.env.CUDA_VISIBLE_DEVICES ?? null,
    CUDA_DEVICE_ORDER: process.env.CUDA_DEVICE_ORDER ?? null,
  };
}

export default plugin;
