// Words → ids with word ids, as transformers' is_split_into_words encodes them. On the shipped
// WordPiece tokenizer (models/bert-langid): a text split at spaces encodes to the same ids as the
// text itself (BERT's pre-tokenizer splits at spaces anyway), every word's first token is where no
// "##" continuation is, truncation keeps [SEP] last and drops the words it cut. The Python
// tokenizers library's own word ids (is_pretokenized=True, with and without truncation, WordPiece
// and byte-level BPE) are checked in src/tasks/token-classification/data.test.ts on the fixtures
// the device job t3-ner recorded.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BERT_DIR } from '../../tests/helpers/bert-langid.ts';
import { REPO } from '../../tests/helpers/cli.ts';
import { useTempDir } from '../../tests/helpers/temp.ts';
import { loadTokenizer, type LoadedTokenizer } from './tokenizer.ts';
import { alignLabels, wordEncoder } from './word-encoder.ts';

const texts = readFileSync(join(REPO, 'data/langid/eval.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .slice(0, 60)
  .map((l) => (JSON.parse(l) as { text: string }).text);

let tok: LoadedTokenizer;
let vocab: Map<number, string>;
beforeAll(async () => {
  tok = await loadTokenizer(join(BERT_DIR, 'tokenizer.json'), join(BERT_DIR, 'tokenizer_config.json'));
  const json = JSON.parse(readFileSync(join(BERT_DIR, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } };
  vocab = new Map(Object.entries(json.model.vocab).map(([t, i]) => [i, t]));
});

describe('wordEncoder on a WordPiece tokenizer', () => {
  it('a text split at spaces encodes to the text’s own ids, specials outside every word', () => {
    const encoder = wordEncoder(tok);
    for (const text of texts) {
      const words = text.split(' ').filter(Boolean);
      const e = encoder.encode(words);
      expect(e.ids).toEqual(tok.encode(text));
      expect(e.wordIds[0]).toBe(-1);
      expect(e.wordIds.at(-1)).toBe(-1);
      expect(e.wordIds.length).toBe(e.ids.length);
    }
  });

  it('a word starts at its first piece: no ## there, ## on every other piece of the word', () => {
    const encoder = wordEncoder(tok);
    let continued = 0;
    for (const text of texts) {
      const e = encoder.encode(text.split(' ').filter(Boolean));
      e.wordIds.forEach((w, i) => {
        if (w < 0) return;
        const piece = vocab.get(e.ids[i]!)!;
        if (e.wordStarts[w] === i) expect(piece.startsWith('##'), `${text}: token ${i} ${piece}`).toBe(false);
        // BERT's pre-tokenizer splits a word at punctuation: later pieces are either ## or punctuation splits.
        else if (piece.startsWith('##')) continued++;
      });
    }
    expect(continued).toBeGreaterThan(20);
  });

  it('labels go on first pieces only; specials and continuations get -100', () => {
    const e = wordEncoder(tok).encode(['Unbelievably', 'long', 'words']);
    const labels = alignLabels(e, [3, 4, 5]);
    expect(labels.filter((l) => l !== -100)).toEqual([3, 4, 5]);
    expect(labels[0]).toBe(-100);
    expect(labels.at(-1)).toBe(-100);
    e.wordStarts.forEach((t, w) => expect(labels[t]).toBe([3, 4, 5][w]));
  });

  it('truncation keeps max_length with [SEP] last; words it cut have no start and are counted', () => {
    const words = texts[0]!.split(' ').filter(Boolean);
    const full = wordEncoder(tok, 10_000).encode(words);
    const short = wordEncoder(tok, 8).encode(words);
    expect(short.ids).toHaveLength(8);
    expect(short.ids.slice(0, 7)).toEqual(full.ids.slice(0, 7));
    expect(short.ids[7]).toBe(full.ids.at(-1));
    const kept = new Set(short.wordIds.filter((w) => w >= 0));
    expect(short.wordStarts.filter((s) => s >= 0)).toHaveLength(kept.size);
    expect(short.truncatedWords).toBe(words.length - kept.size);
    expect(short.truncatedWords).toBeGreaterThan(0);
  });
});

interface PyItem {
  tokens: string[];
  ids: number[];
  word_ids: (number | null)[];
  truncated12?: { ids: number[]; word_ids: (number | null)[] };
}
const pyWordIds = (w: (number | null)[]) => w.map((x) => (x === null ? -1 : x));

describe('wordEncoder against the Python tokenizers library (encode(words, is_pretokenized=True), recorded by the device job t3-ner)', () => {
  const tmp = useTempDir();
  it('WordPiece (models/bert-ner, cased): ids and word ids of 32 evaluation messages, untruncated and cut to 12', async () => {
    const ref = JSON.parse(readFileSync(join(REPO, 'tests/fixtures/bert-ner/reference.json'), 'utf8')) as { items: PyItem[] };
    const ner = await loadTokenizer(join(REPO, 'models/bert-ner/tokenizer.json'), join(REPO, 'models/bert-ner/tokenizer_config.json'));
    const full = wordEncoder(ner);
    const short = wordEncoder(ner, 12);
    expect(ref.items).toHaveLength(32);
    for (const item of ref.items) {
      const e = full.encode(item.tokens);
      expect(e.ids).toEqual(item.ids);
      expect(e.wordIds).toEqual(pyWordIds(item.word_ids));
      const s = short.encode(item.tokens);
      expect(s.ids).toEqual(item.truncated12!.ids);
      expect(s.wordIds).toEqual(pyWordIds(item.truncated12!.word_ids));
    }
    expect(ref.items.some((i) => i.truncated12!.ids.length < i.ids.length)).toBe(true);
  });

  it('byte-level BPE with add_prefix_space (tests/fixtures/bpe-words): every word encoded as " word"', async () => {
    const dir = join(REPO, 'tests/fixtures/bpe-words');
    const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as { items: PyItem[] };
    const bpe = wordEncoder(await loadTokenizer(join(dir, 'tokenizer.json')));
    // RoBERTa's own tokenizer.json says add_prefix_space: false; transformers turns it on for words
    // (RobertaTokenizerFast(add_prefix_space=True) is required with is_split_into_words): same ids.
    const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as { pre_tokenizer: { add_prefix_space: boolean } };
    json.pre_tokenizer.add_prefix_space = false;
    const noPrefix = join(tmp, 'tokenizer.json');
    writeFileSync(noPrefix, JSON.stringify(json));
    const roberta = wordEncoder(await loadTokenizer(noPrefix));
    for (const item of ref.items) {
      for (const encoder of [bpe, roberta]) {
        const e = encoder.encode(item.tokens);
        expect(e.ids).toEqual(item.ids);
        expect(e.wordIds).toEqual(pyWordIds(item.word_ids));
      }
    }
  });
});
