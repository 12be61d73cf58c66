// sentence-transformers' folder layout → how the sentence embedding is pooled. SentenceTransformer.save
// writes modules.json (the pipeline: Transformer at path "", Pooling at 1_Pooling, Normalize at
// 2_Normalize) and each module's config; sentence_transformers/models/Pooling.py names the modes
// pooling_mode_{cls_token, mean_tokens, max_tokens, mean_sqrt_len_tokens, …} (newer versions may
// write one `pooling_mode` string; both are read). Normalize has no config: its folder (or its
// modules.json entry) is the switch.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { taskErrors } from '../errors.ts';

export type PoolingMode = 'mean' | 'cls' | 'max' | 'mean_sqrt_len';

export interface PoolingSpec {
  mode: PoolingMode;
  /** L2-normalise the pooled vector (sentence-transformers' Normalize module). */
  normalize: boolean;
  /** Where the spec came from, for the step's metrics. */
  from: string;
}

/** A bare checkpoint named `task: embedding`: mean pooling, as most sentence-transformers models use. */
export const DEFAULT_POOLING: PoolingSpec = { mode: 'mean', normalize: false, from: 'default (mean, no normalisation)' };

const MODE_KEYS: [key: string, mode: PoolingMode][] = [
  ['pooling_mode_cls_token', 'cls'],
  ['pooling_mode_mean_tokens', 'mean'],
  ['pooling_mode_max_tokens', 'max'],
  ['pooling_mode_mean_sqrt_len_tokens', 'mean_sqrt_len'],
];
const UNSUPPORTED_KEYS = ['pooling_mode_weightedmean_tokens', 'pooling_mode_lasttoken'];
const MODE_NAMES: Record<string, PoolingMode> = { cls: 'cls', mean: 'mean', max: 'max', mean_sqrt_len_tokens: 'mean_sqrt_len', mean_sqrt_len: 'mean_sqrt_len' };

interface ModuleEntry {
  idx?: number;
  name?: string;
  path?: string;
  type?: string;
}

async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw taskErrors.layoutInvalid(file, `not valid JSON (${(e as Error).message})`);
  }
}

/** The last dotted part of a module type: `sentence_transformers.models.Pooling` → `Pooling`. */
const kindOf = (m: ModuleEntry) => String(m.type ?? '').split('.').pop() ?? '';

/** The pooling of the sentence-transformers folder `dir`; DEFAULT_POOLING when it is not one. */
export async function readPooling(dir: string | undefined): Promise<PoolingSpec> {
  if (!dir) return DEFAULT_POOLING;
  const modulesFile = join(dir, 'modules.json');
  let poolingDir = join(dir, '1_Pooling');
  let normalize = existsSync(join(dir, '2_Normalize'));
  if (existsSync(modulesFile)) {
    const modules = await readJson(modulesFile);
    if (!Array.isArray(modules)) throw taskErrors.layoutInvalid(modulesFile, 'is not a list of modules');
    const entries = modules as ModuleEntry[];
    for (const m of entries) {
      const kind = kindOf(m);
      if (kind === 'Transformer') {
        // The exporter reads config.json and the weights from the folder itself.
        if (m.path && m.path !== '' && m.path !== '.') {
          throw taskErrors.layoutInvalid(modulesFile, `the Transformer module is in "${m.path}/", not at the top of the folder (an old sentence-transformers layout)`);
        }
      } else if (kind === 'Pooling') {
        poolingDir = join(dir, m.path ?? '1_Pooling');
      } else if (kind === 'Normalize') {
        normalize = true;
      } else {
        // Dense, LayerNorm, WordWeights, … change the vector after pooling; exporting without them
        // would give other embeddings than sentence-transformers does.
        throw taskErrors.layoutInvalid(modulesFile, `module "${m.type}" (${m.path ?? ''}) is not supported by the native export (Transformer, Pooling, Normalize)`);
      }
    }
    if (!entries.some((m) => kindOf(m) === 'Pooling')) throw taskErrors.layoutInvalid(modulesFile, 'has no Pooling module');
  }
  const poolingFile = join(poolingDir, 'config.json');
  if (!existsSync(poolingFile)) {
    if (existsSync(modulesFile)) throw taskErrors.layoutInvalid(poolingFile, 'is missing');
    return { ...DEFAULT_POOLING, normalize, from: normalize ? 'default (mean) + 2_Normalize' : DEFAULT_POOLING.from };
  }
  const config = (await readJson(poolingFile)) as Record<string, unknown>;
  let modes: PoolingMode[];
  if (typeof config.pooling_mode === 'string') {
    const mode = MODE_NAMES[config.pooling_mode];
    if (!mode) throw taskErrors.layoutInvalid(poolingFile, `pooling_mode "${config.pooling_mode}" is not supported (cls, mean, max, mean_sqrt_len_tokens)`);
    modes = [mode];
  } else {
    const unsupported = UNSUPPORTED_KEYS.filter((k) => config[k] === true);
    if (unsupported.length) throw taskErrors.layoutInvalid(poolingFile, `${unsupported.join(', ')} is not supported by the native export (cls, mean, max, mean_sqrt_len)`);
    modes = MODE_KEYS.filter(([k]) => config[k] === true).map(([, m]) => m);
  }
  if (modes.length !== 1) {
    throw taskErrors.layoutInvalid(poolingFile, modes.length ? `sets ${modes.length} pooling modes (${modes.join(', ')}); sentence-transformers concatenates them, the native export takes one` : 'sets no pooling mode');
  }
  return { mode: modes[0]!, normalize, from: `${poolingFile.slice(dir.length + 1)}${normalize ? ' + 2_Normalize' : ''}` };
}
