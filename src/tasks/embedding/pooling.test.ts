// Reading a sentence-transformers folder's pooling: the modules.json pipeline and 1_Pooling/config.json
// as SentenceTransformer.save writes them (old and new type names), and the layouts the native
// export refuses with a reason.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { QrunError } from '../../errors.ts';
import { DEFAULT_POOLING, readPooling } from './pooling.ts';

const tmp = mkdtempSync(join(tmpdir(), 'qrun-pooling-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function stFolder(modules: object[] | undefined, pooling: object | undefined): string {
  const dir = join(tmp, String(n++));
  mkdirSync(dir);
  if (modules) writeFileSync(join(dir, 'modules.json'), JSON.stringify(modules));
  if (pooling) {
    mkdirSync(join(dir, '1_Pooling'));
    writeFileSync(join(dir, '1_Pooling', 'config.json'), JSON.stringify(pooling));
  }
  return dir;
}
const mod = (idx: number, path: string, type: string) => ({ idx, name: String(idx), path, type });
const OLD = [mod(0, '', 'sentence_transformers.models.Transformer'), mod(1, '1_Pooling', 'sentence_transformers.models.Pooling')];
const NORMALIZE_NEW = mod(2, '2_Normalize', 'sentence_transformers.sentence_transformer.modules.normalize.Normalize');
const flags = (mode: string) => ({
  word_embedding_dimension: 32,
  pooling_mode_cls_token: mode === 'cls',
  pooling_mode_mean_tokens: mode === 'mean',
  pooling_mode_max_tokens: mode === 'max',
  pooling_mode_mean_sqrt_len_tokens: false,
  pooling_mode_weightedmean_tokens: false,
  pooling_mode_lasttoken: false,
  include_prompt: true,
});

async function failure(dir: string): Promise<QrunError> {
  try {
    await readPooling(dir);
  } catch (e) {
    return e as QrunError;
  }
  throw new Error('expected a failure');
}

describe('readPooling', () => {
  it('reads the mode flags and the Normalize module (old and new module type names)', async () => {
    expect(await readPooling(stFolder(OLD, flags('cls')))).toMatchObject({ mode: 'cls', normalize: false });
    expect(await readPooling(stFolder([...OLD, NORMALIZE_NEW], flags('mean')))).toMatchObject({ mode: 'mean', normalize: true, from: '1_Pooling/config.json + 2_Normalize' });
    expect(await readPooling(stFolder(OLD, { pooling_mode: 'max' }))).toMatchObject({ mode: 'max' });
  });

  it('a folder that is not sentence-transformers, or none, pools by mean without normalisation', async () => {
    expect(await readPooling(stFolder(undefined, undefined))).toEqual(DEFAULT_POOLING);
    expect(await readPooling(undefined)).toEqual(DEFAULT_POOLING);
  });

  it('refuses what would give other vectors than sentence-transformers: Dense, two modes, last token, a nested Transformer', async () => {
    const dense = await failure(stFolder([...OLD, mod(2, '2_Dense', 'sentence_transformers.models.Dense')], flags('mean')));
    expect(dense.code).toBe('SENTENCE_TRANSFORMERS_LAYOUT');
    expect(dense.message).toContain('Dense');
    expect((await failure(stFolder(OLD, { ...flags('mean'), pooling_mode_cls_token: true }))).message).toContain('2 pooling modes');
    expect((await failure(stFolder(OLD, { ...flags(''), pooling_mode_lasttoken: true }))).message).toContain('pooling_mode_lasttoken');
    expect((await failure(stFolder([mod(0, '0_Transformer', 'sentence_transformers.models.Transformer'), OLD[1]!], flags('mean')))).message).toContain('0_Transformer');
    expect((await failure(stFolder(OLD, undefined))).message).toContain('is missing');
  });
});
