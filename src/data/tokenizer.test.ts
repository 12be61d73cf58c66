// The TypeScript tokenizer must give the ids the model was trained with: those of the Python
// tokenizers library, recorded in tests/fixtures/bert-langid/reference.json.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTempDir } from '../../tests/helpers/temp.ts';
import { loadTokenizer, type LoadedTokenizer } from './tokenizer.ts';

const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const TOKENIZER = root('models/bert-langid/tokenizer.json');
const TOKENIZER_CONFIG = root('models/bert-langid/tokenizer_config.json');

interface Reference {
  items: { text: string; label: string; ids: number[] }[];
}
const reference = JSON.parse(readFileSync(root('tests/fixtures/bert-langid/reference.json'), 'utf8')) as Reference;
const vocab = (JSON.parse(readFileSync(TOKENIZER, 'utf8')) as { model: { vocab: Record<string, number> } }).model.vocab;
const CLS = vocab['[CLS]']!;
const SEP = vocab['[SEP]']!;
const PAD = vocab['[PAD]']!;
const UNK = vocab['[UNK]']!;

let tokenizer: LoadedTokenizer;
/** The same tokenizer with a limit no text reaches: untruncated ids. */
let untruncated: LoadedTokenizer;
beforeAll(async () => {
  tokenizer = await loadTokenizer(TOKENIZER, TOKENIZER_CONFIG);
  untruncated = await loadTokenizer(TOKENIZER, TOKENIZER_CONFIG, 100_000);
});

describe('the reference fixture', () => {
  it('holds the first 64 texts of data/langid/eval.jsonl, in order', () => {
    const evalTexts = readFileSync(root('data/langid/eval.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .slice(0, 64)
      .map((l) => (JSON.parse(l) as { text: string }).text);
    expect(reference.items).toHaveLength(64);
    expect(reference.items.map((i) => i.text)).toEqual(evalTexts);
  });
});

describe('loadTokenizer (bert-langid WordPiece)', () => {
  it('reads max length and the pad id from the model files', () => {
    expect(tokenizer.maxLength).toBe(128);
    expect(tokenizer.padId).toBe(PAD);
    expect([CLS, SEP, PAD]).toEqual([2, 3, 0]);
  });

  it.each(reference.items.map((item, i) => [i, item] as const))('text %i gives the Python ids exactly', (_i, item) => {
    expect(tokenizer.encode(item.text)).toEqual(item.ids);
  });

  it('a very long text is truncated to exactly maxLength ids, [CLS] first and [SEP] last', () => {
    const long = reference.items.map((i) => i.text).join(' ');
    const ids = tokenizer.encode(long);
    expect(ids).toHaveLength(128);
    expect(ids[0]).toBe(CLS);
    expect(ids[127]).toBe(SEP);
    // The content is a prefix of the untruncated content (Python truncates content, then adds specials).
    const full = untruncated.encode(long);
    expect(full.length).toBeGreaterThan(128);
    expect(ids.slice(1, 127)).toEqual(full.slice(1, 127));
    expect(ids.slice(1, 127)).not.toContain(SEP);
  });

  it('a maxLength override truncates to it, and the special tokens still frame the ids', async () => {
    const t = await loadTokenizer(TOKENIZER, TOKENIZER_CONFIG, 8);
    expect(t.maxLength).toBe(8);
    const ids = t.encode(reference.items[0]!.text);
    expect(ids).toEqual([...reference.items[0]!.ids.slice(0, 7), SEP]);
  });

  it('an empty text is just [CLS] [SEP]; unknown characters map to [UNK]', () => {
    expect(tokenizer.encode('')).toEqual([CLS, SEP]);
    expect(tokenizer.encode('\u{1F996}')).toEqual([CLS, UNK, SEP]);
  });

  it('without tokenizer_config.json, max length comes from tokenizer.json’s truncation section', async () => {
    const t = await loadTokenizer(TOKENIZER);
    expect(t.maxLength).toBe(128);
    expect(t.padId).toBe(PAD);
  });
});

describe('loadTokenizer fallbacks', () => {
  const dir = useTempDir();

  it('with no truncation section, model_max_length from the config applies', async () => {
    const json = JSON.parse(readFileSync(TOKENIZER, 'utf8')) as Record<string, unknown>;
    json.truncation = null;
    const file = join(dir, 'tokenizer.json');
    writeFileSync(file, JSON.stringify(json));
    const config = join(dir, 'tokenizer_config.json');
    writeFileSync(config, JSON.stringify({ model_max_length: 16, pad_token: '[PAD]' }));
    const t = await loadTokenizer(file, config);
    expect(t.maxLength).toBe(16);
    expect(t.encode(reference.items[1]!.text)).toHaveLength(16);
    // A huge "no limit" model_max_length (transformers' 1e30 sentinel) falls back to 512.
    writeFileSync(config, JSON.stringify({ model_max_length: 1e30 }));
    expect((await loadTokenizer(file, config)).maxLength).toBe(512);
  });
});

