// A checkpoint folder: `model.safetensors`, or shards listed by `model.safetensors.index.json`
// ({"metadata": {...}, "weight_map": {tensor: shard file}}), the layout save_pretrained writes.
// https://huggingface.co/docs/transformers/main/en/big_models#sharded-checkpoints
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { safetensorsErrors } from './errors.ts';
import { SafetensorsFile, type TensorInfo } from './safetensors-file.ts';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

export class Checkpoint {
  private constructor(
    /** Where it came from, for error messages (the file, or the index). */
    readonly source: string,
    private readonly files: SafetensorsFile[],
    private readonly byName: Map<string, SafetensorsFile>,
  ) {}

  /** Opens the checkpoint in `dir` (headers only). Throws CHECKPOINT_NOT_FOUND, SAFETENSORS_*. */
  static async open(dir: string): Promise<Checkpoint> {
    const single = join(dir, SINGLE_FILE);
    const index = join(dir, INDEX_FILE);
    if (existsSync(single)) return Checkpoint.fromFiles(single, [single]);
    if (!existsSync(index)) throw safetensorsErrors.notFound(dir);
    let weightMap: Record<string, string>;
    try {
      const parsed = JSON.parse(await readFile(index, 'utf8')) as { weight_map?: Record<string, string> };
      if (!parsed.weight_map || typeof parsed.weight_map !== 'object') throw new Error('it has no "weight_map" object');
      weightMap = parsed.weight_map;
    } catch (e) {
      throw safetensorsErrors.indexInvalid(index, (e as Error).message);
    }
    const shards = [...new Set(Object.values(weightMap))].sort();
    for (const shard of shards) {
      if (shard.includes('/') || shard.includes('\\')) throw safetensorsErrors.indexInvalid(index, `shard "${shard}" is not a file name in the folder`);
      if (!existsSync(join(dir, shard))) throw safetensorsErrors.indexInvalid(index, `shard ${shard} is missing`);
    }
    const checkpoint = await Checkpoint.fromFiles(index, shards.map((s) => join(dir, s)));
    for (const [tensor, shard] of Object.entries(weightMap)) {
      if (checkpoint.byName.get(tensor)?.file !== join(dir, shard)) throw safetensorsErrors.indexInvalid(index, `tensor "${tensor}" is not in ${shard}`);
    }
    return checkpoint;
  }

  private static async fromFiles(source: string, paths: string[]): Promise<Checkpoint> {
    const files: SafetensorsFile[] = [];
    try {
      for (const p of paths) files.push(await SafetensorsFile.open(p));
    } catch (e) {
      await Promise.all(files.map((f) => f.close()));
      throw e;
    }
    const byName = new Map<string, SafetensorsFile>();
    for (const f of files) for (const name of f.tensors.keys()) byName.set(name, f);
    return new Checkpoint(source, files, byName);
  }

  names(): string[] {
    return [...this.byName.keys()].sort();
  }

  info(name: string): TensorInfo | undefined {
    return this.byName.get(name)?.tensors.get(name);
  }

  /** The tensor as float32. Throws CHECKPOINT_TENSOR_MISSING when absent. */
  async readFloat32(name: string): Promise<Float32Array> {
    const file = this.byName.get(name);
    if (!file) throw safetensorsErrors.tensorMissing(this.source, name, [name]);
    return file.readFloat32(name);
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close()));
  }
}
