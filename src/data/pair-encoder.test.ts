// Question + context pairs through the TypeScript pair encoder against the Python tokenizers
// library (0.23, on the GPU machine: scripts/make-qa-model/pair_fixtures.py → fixtures/qa-pairs.json):
// tokenizer.encode(question, context) with truncation "only_second", for WordPiece (bert, electra),
// byte-level BPE (roberta) and Unigram (xlm-roberta) tokenizers of the zoo, cut at 48 tokens and
// whole. Ids, token types, sequence ids, the context tokens' character offsets and word ids.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { QrunError } from '../errors.ts';
import { pairEncoder } from './pair-encoder.ts';
import { loadTokenizer } from './tokenizer.ts';

const ZOO = fileURLToPath(new URL('../../tests/fixtures/zoo', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/qa-pairs.json', import.meta.url));

interface Case {
  tokenizer: string;
  max_length: number;
  items: { question: string; context: string; error?: string; ids: number[]; type_ids: number[]; sequence_ids: number[]; context_offsets: [number, number][]; context_words: number[] }[];
}

const cases = (JSON.parse(readFileSync(FIXTURE, 'utf8')) as { cases: Case[] }).cases;

async function encoderFor(name: string, maxLength: number) {
  const dir = join(ZOO, name);
  const config = join(dir, 'tokenizer_config.json');
  return pairEncoder(await loadTokenizer(join(dir, 'tokenizer.json'), existsSync(config) ? config : undefined), maxLength);
}

describe('question + context pairs against the Python tokenizers library', () => {
  it('covers WordPiece, byte-level BPE and Unigram, truncated and whole', () => {
    expect(cases.map((c) => `${c.tokenizer}@${c.max_length}`)).toEqual(['bert@48', 'bert@512', 'electra@48', 'electra@512', 'roberta@48', 'roberta@512', 'xlm-roberta@48', 'xlm-roberta@512']);
    expect(cases.filter((c) => c.max_length === 48).every((c) => c.items.some((i) => i.ids?.length === 48))).toBe(true);
  });

  it.each(cases.map((c) => [`${c.tokenizer}@${c.max_length}`, c] as const))('%s: ids, types, sequence ids, offsets and words as Python gives them', async (_, c) => {
    const encoder = await encoderFor(c.tokenizer, c.max_length);
    // Pairs Python refuses (the question leaves no room for the context) are refused here too.
    const refused = c.items.filter((item) => item.error);
    for (const item of refused) {
      expect(() => encoder.encode(item.question, item.context)).toThrow(/leaves no room for its context/);
    }
    const items = c.items.filter((item) => !item.error);
    expect(items.length).toBeGreaterThanOrEqual(6);
    const got = items.map((item) => {
      const e = encoder.encode(item.question, item.context);
      return { ids: e.ids, type_ids: e.typeIds, sequence_ids: e.sequenceIds, context_offsets: e.contextOffsets, context_words: e.contextWords };
    });
    const want = items.map(({ ids, type_ids, sequence_ids, context_offsets, context_words }) => ({ ids, type_ids, sequence_ids, context_offsets, context_words }));
    for (const key of ['ids', 'type_ids', 'sequence_ids', 'context_offsets', 'context_words'] as const) {
      const differ = got.map((g, i) => (JSON.stringify(g[key]) === JSON.stringify(want[i]![key]) ? -1 : i)).filter((i) => i >= 0);
      expect({ key, differ }).toEqual({ key, differ: [] });
    }
  });

  it('refuses a question that leaves no room for the context, as Python does', async () => {
    const encoder = await encoderFor('bert', 12);
    const e = await Promise.resolve()
      .then(() => encoder.encode('what does the very long question about many options ask here', 'context words'))
      .catch((err: unknown) => err);
    expect(e).toBeInstanceOf(QrunError);
    expect((e as QrunError).diagnostics[0]!.code).toBe('QA_QUESTION_TOO_LONG');
  });
});
