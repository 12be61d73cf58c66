// Error factories for reading safetensors checkpoints. src/errors.ts holds the project-wide
// catalogue; these are the checkpoint-specific ones, with the same shape (stable code, message that
// names the file, a hint the user can act on), so src/cli.ts prints them like any other QrunError.
import { QrunError } from '../errors.ts';

const make = (code: string, message: string, hint: string) => new QrunError([{ code, message, hint }]);

const REDOWNLOAD = 're-download the checkpoint; a truncated download or a Git LFS pointer file looks like this';

export const safetensorsErrors = {
  /** The file's bytes do not form a safetensors file (short, bad header, offsets past the end). */
  corrupt: (file: string, reason: string) => make('SAFETENSORS_CORRUPT', `cannot read safetensors file ${file}: ${reason}`, REDOWNLOAD),
  /** A dtype qrun does not convert to float32 (only F32, F16 and BF16 weights are read). */
  unsupportedDtype: (file: string, tensor: string, dtype: string) =>
    make('SAFETENSORS_DTYPE', `tensor "${tensor}" in ${file} has dtype ${dtype}; qrun reads F32, F16 and BF16 weights`, 'save the checkpoint in float32, float16 or bfloat16'),
  /** The sharded index names a shard that is not there, or is not valid JSON. */
  indexInvalid: (file: string, reason: string) => make('SAFETENSORS_INDEX_INVALID', `cannot use checkpoint index ${file}: ${reason}`, REDOWNLOAD),
  /** Neither model.safetensors nor model.safetensors.index.json exists in the folder. */
  notFound: (dir: string) =>
    make('CHECKPOINT_NOT_FOUND', `${dir} holds no safetensors checkpoint (looked for model.safetensors and model.safetensors.index.json)`, 'convert the weights with `safetensors` (save_file) or save the model with save_pretrained(safe_serialization=True)'),
  /** The graph for this architecture needs a tensor the checkpoint does not have. */
  tensorMissing: (source: string, tensor: string, tried: string[]) =>
    make(
      'CHECKPOINT_TENSOR_MISSING',
      `checkpoint ${source} has no tensor "${tensor}"${tried.length > 1 ? ` (looked for ${tried.join(', ')})` : ''}`,
      'the checkpoint does not match config.json (model_type / architectures), or it was saved from a different model class',
    ),
  /** The tensor exists but its shape does not match config.json. */
  shapeMismatch: (source: string, tensor: string, expected: number[], actual: number[]) =>
    make(
      'CHECKPOINT_SHAPE_MISMATCH',
      `tensor "${tensor}" in ${source} has shape [${actual.join(', ')}], config.json implies [${expected.join(', ')}]`,
      'config.json and the weights come from different models',
    ),
};
