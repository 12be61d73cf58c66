// Failures of the trtexec step that the user can act on. src/errors.ts has no factory for a tool that
// ran and failed, nor for a shape profile that does not fit the graph, so they are made here in the
// same form (a QrunError with a stable code and a hint); they belong in src/errors.ts eventually.
import { QrunError } from '../../src/errors.ts';

export const trtexecErrors = {
  /** trtexec exited non-zero: the message carries the tail of its output, where TensorRT says why. */
  failed: (command: string, exitCode: number | undefined, signal: string | undefined, tail: string[]) =>
    new QrunError([
      {
        code: 'TRTEXEC_FAILED',
        message:
          `trtexec ${signal ? `was killed by ${signal}` : `exited with code ${exitCode ?? '?'}`}\n` +
          `  command: ${command}\n` +
          `  last ${tail.length} lines of its output:\n` +
          tail.map((l) => `    ${l}`).join('\n'),
        hint: 'the lines starting with [E] name the layer or option TensorRT rejected; run the command above by hand with --verbose for the whole story',
      },
    ]),

  /** An input's dynamic axis has no size in `shapes`. */
  shapeMissing: (input: string, axis: number, dimParam: string | undefined, point: string) =>
    new QrunError([
      {
        code: 'TRTEXEC_SHAPES',
        message: `cannot size axis ${axis}${dimParam ? ` ("${dimParam}")` : ''} of input "${input}" for shapes.${point}`,
        hint: dimParam
          ? `add \`${dimParam}: <n>\` (or batch/sequence for axes 0/1) to shapes.min, shapes.opt and shapes.max`
          : 'give shapes.min/opt/max a size for every dynamic axis: batch for axis 0, sequence for axis 1',
      },
    ]),

  /** min ≤ opt ≤ max must hold on every axis, or TensorRT refuses the profile after a long parse. */
  shapeOrder: (input: string, min: number[], opt: number[], max: number[], origin?: Record<'min' | 'opt' | 'max', string>) =>
    new QrunError([
      {
        code: 'TRTEXEC_SHAPES',
        message:
          `shapes for input "${input}" are not ordered: min ${min.join('x')}, opt ${opt.join('x')}, max ${max.join('x')}` +
          (origin ? ` (min ${origin.min}; opt ${origin.opt}; max ${origin.max})` : ''),
        hint: 'every axis needs min ≤ opt ≤ max: give the point that is off in `shapes`, or change benchShapes / maxBatchSize',
      },
    ]),

  /** The GPU trtexec built on is not the one the cache key names: the engine must not be cached under it. */
  deviceMismatch: (keyed: string, built: string) =>
    new QrunError([
      {
        code: 'TRTEXEC_DEVICE',
        message: `trtexec built the engine on ${built}, but the step's cache key names ${keyed} (from nvidia-smi); the engine is not kept`,
        hint: 'CUDA and nvidia-smi number GPUs differently unless CUDA_DEVICE_ORDER=PCI_BUS_ID: set it, or pick the device with CUDA_VISIBLE_DEVICES',
      },
    ]),

  /** trtexec splits --minShapes lists on commas, so a tensor name with one cannot be passed. */
  inputNameUnusable: (input: string) =>
    new QrunError([
      {
        code: 'TRTEXEC_SHAPES',
        message: `input "${input}" has a comma in its name, which trtexec's --minShapes/--optShapes/--maxShapes cannot express`,
        hint: 'rename the graph input (a `patch` rule) before this step',
      },
    ]),
};
