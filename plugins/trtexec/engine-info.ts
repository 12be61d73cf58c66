// engine.json, written beside model.plan: what a later step needs to know about an engine without
// deserializing it (which needs TensorRT and the GPU it was built for). The triton step reads it
// to refuse a max_batch_size the engine's optimisation profile cannot serve.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export const ENGINE_INFO_FILE = 'engine.json';

export interface EngineInfo {
  tensorrtVersion?: string;
  device?: { name: string; computeCapability?: string };
  /** The optimisation profile per dynamic input: full shapes, batch axis first. */
  profiles: Record<string, { min: number[]; opt: number[]; max: number[] }>;
}

/**
 * The engine.json of an engine artifact: both are outputs of the same trtexec step, so the cache
 * stores them in the same folder. Undefined for an engine that came from elsewhere.
 */
export async function readEngineInfo(enginePath: string): Promise<EngineInfo | undefined> {
  const file = join(dirname(enginePath), ENGINE_INFO_FILE);
  if (!existsSync(file)) return undefined;
  return JSON.parse(await readFile(file, 'utf8')) as EngineInfo;
}
