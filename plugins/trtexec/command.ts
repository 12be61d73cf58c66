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

export function trtexecArgs(modelPath: string, profiles: InputProfile[], options: TrtexecOptions): string[] {
  const args = [`--onnx=${modelPath}`, `--saveEngine=${ENGINE_FILE}`, ...inputShapeFlags(profiles)];
  if (options.stronglyTyped) {
    // Types come from the graph (the Q/DQ and Cast nodes); precision flags are an error here.
    args.push('--stronglyTyped');
  } else {
    // --int8 also for an explicitly quantized (QDQ) model: it enables INT8 kernels, and with Q/DQ
    // nodes present TensorRT takes the scales from the graph and needs no calibration cache.
    if (options.precision.includes('int8')) args.push('--int8');
    if (options.precision.includes('fp16')) args.push('--fp16');
  }
  if (options.workspaceMiB !== undefined) args.push(`--memPoolSize=workspace:${options.workspaceMiB}M`);
  if (options.timingCache) args.push(`--timingCacheFile=${TIMING_CACHE_FILE}`);
  if (options.optimizationLevel !== undefined) args.push(`--builderOptimizationLevel=${options.optimizationLevel}`);
  if (options.skipInference) args.push('--skipInference');
  if (options.verbose) args.push('--verbose');
  return [...args, ...options.extraArgs];
}

/** A POSIX-shell rendering of the command, for the report and for a user to paste. */
export function renderCommand(executable: string, args: string[]): string {
  return [executable, ...args].map(shellQuote).join(' ');
}

function shellQuote(word: string): string {
  return /^[A-Za-z0-9_\-+=:,./@%]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
