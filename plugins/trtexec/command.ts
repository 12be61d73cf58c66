// The trtexec command line, built from the options and the model's inputs. Flag spellings are
// TensorRT 10's (the 8.x → 10.x migration guide: --workspace became --memPoolSize=workspace:<size>,
// --buildOnly became --skipInference, implicit batch and --explicitBatch are gone).
// trtexec runs with its working directory set to the step's output folder, so the engine, the timing
// cache and any relative path in extraArgs land there, and the command holds no temp-folder path
// (it is a metric in the report, which must not change from run to run).
import { inputShapeFlags, type InputProfile } from './input-shapes.ts';
import type { TrtexecOptions } from './options.ts';

export const ENGINE_FILE = 'model.plan';
export const TIMING_CACHE_FILE = 'timing.cache';
export const TIMES_FILE = 'times.json';
export const PROFILE_FILE = 'profile.json';
export const LAYER_INFO_FILE = 'layers.json';

export function trtexecArgs(modelPath: string, profiles: InputProfile[], options: TrtexecOptions): string[] {
  const args = [`--onnx=${modelPath}`, `--saveEngine=${ENGINE_FILE}`, ...inputShapeFlags(profiles)];
  if (options.stronglyTyped) {
    // Types come from the graph (the Q/DQ and Cast nodes); precision flags are an error here.
    args.push('--stronglyTyped');
  } else {
    // --int8 also for an explicitly quantized (QDQ) model: it enables INT8 kernels, and with Q/DQ
    // nodes present TensorRT takes the scales from the graph and needs no calibration cache.
    // --best enables every precision, so it makes --int8 / --fp16 redundant.
    if (options.precision.includes('best')) args.push('--best');
    else {
      if (options.precision.includes('int8')) args.push('--int8');
      if (options.precision.includes('fp16')) args.push('--fp16');
    }
  }
  if (options.workspaceMiB !== undefined) args.push(`--memPoolSize=workspace:${options.workspaceMiB}M`);
  if (options.timingCache) args.push(`--timingCacheFile=${TIMING_CACHE_FILE}`);
  if (options.optimizationLevel !== undefined) args.push(`--builderOptimizationLevel=${options.optimizationLevel}`);
  if (options.skipInference) args.push('--skipInference');
  if (options.verbose) args.push('--verbose');
  // Layer names, tensor formats and precisions are only in the engine with detailed verbosity.
  if (options.exportLayerInfo) args.push('--profilingVerbosity=detailed', `--exportLayerInfo=${LAYER_INFO_FILE}`);
  if (!options.skipInference) {
    if (options.exportTimes) args.push(`--exportTimes=${TIMES_FILE}`);
    // Without --separateProfileRun the profiler is attached to the timed run and slows every
    // number in the performance summary; with it, trtexec profiles in a second run.
    if (options.exportProfile) args.push('--separateProfileRun', `--exportProfile=${PROFILE_FILE}`);
  }
  return [...args, ...options.extraArgs];
}

/** A POSIX-shell rendering of the command, for the report and for a user to paste. */
export function renderCommand(executable: string, args: string[]): string {
  return [executable, ...args].map(shellQuote).join(' ');
}

function shellQuote(word: string): string {
  return /^[A-Za-z0-9_\-+=:,./@%]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
