// An artifact's content digest, as the cache records it in a manifest and checks it on every hit: a
// file's or a folder's (src/util/hash.ts), and for an ONNX model the .onnx together with the external
// data files its tensors name (src/runtime/model-file.ts digestModelFile). Those files are part of
// the model: a changed data file is a changed artifact (and a changed key downstream), and a model
// output whose data files are not in its out folder fails its step instead of failing the next one.
import { stat } from 'node:fs/promises';
import { QrunError } from '../errors.ts';
import { digestModelFile } from '../runtime/model-file.ts';
import { digestPath, type PathDigest } from '../util/hash.ts';

/** Artifact kinds that are one ONNX model file (with the data files it may name beside it). */
export const MODEL_ARTIFACT_KINDS: ReadonlySet<string> = new Set(['onnx-model', 'qdq-model']);

export async function digestArtifact(path: string, kind: string): Promise<PathDigest> {
  if (MODEL_ARTIFACT_KINDS.has(kind) && (await stat(path)).isFile()) return digestModelFile(path);
  return digestPath(path);
}

/** A model artifact that cannot be read as one (its data files missing, short or outside, or not ONNX): damage, not a read error. */
export function isDamagedModel(e: unknown): e is QrunError {
  return e instanceof QrunError && (e.code.startsWith('EXTERNAL_DATA_') || e.code === 'ONNX_CORRUPT');
}
