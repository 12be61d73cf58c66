// Words → ids with word ids, as transformers' is_split_into_words encodes them. On the shipped
// WordPiece tokenizer (models/bert-langid): a text split at spaces encodes to the same ids as the
// text itself (BERT's pre-tokenizer splits at spaces anyway), every word's first token is where no
// "##" continuation is, truncation keeps [SEP] last and drops the words it cut. The Python
// tokenizers library's own word ids (is_pretokenized=True, with and without truncation, WordPiece
// and byte-level BPE) are checked in src/tasks/token-classification/data.test.ts on the fixtures
// the device job t3-ner recorded.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BERT_DIR } from '../../tests/helpers/bert-langid.ts';
import { REPO } from '../../tests/helpers/cli.ts';
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
