// Token classification data: words with one tag per word, read strictly (every refusal is a
// QrunError with a code, the file and line, and a hint), then encoded with each word's first token.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { QrunError } from '../../errors.ts';
import { loadTokenizer } from '../../data/tokenizer.ts';
import { BERT_DIR } from '../../../tests/helpers/bert-langid.ts';
import { useTempDir } from '../../../tests/helpers/temp.ts';
import { parseWordLabelRows, tokenizeTokenClassificationData, type TokenClassificationDataset } from './data.ts';

const LABELS = ['O', 'B-PATH', 'I-PATH', 'B-FMT', 'I-FMT'];
const line = (o: unknown) => JSON.stringify(o);

function refusal(content: string, labels?: string[]): { code: string; message: string; line?: number; hint?: string } {
  try {
    parseWordLabelRows('d.jsonl', content, labels);
  } catch (e) {
    expect(e).toBeInstanceOf(QrunError);
    const d = (e as QrunError).diagnostics[0]!;
    return { code: d.code, message: d.message, line: d.location?.line, hint: d.hint };
  }
  throw new Error('not refused');
}

describe('parseWordLabelRows', () => {
  it('reads tokens + tags, ner_tags as indices into id2label, and rows without tags', () => {
    const rows = parseWordLabelRows(
      'd.jsonl',
      [line({ tokens: ['open', '/', 'x'], tags: ['O', 'B-PATH', 'I-PATH'] }), '', line({ words: ['%', 's'], ner_tags: [3, 4] })].join('\n'),
      LABELS,
    );
    expect(rows).toEqual([
      { words: ['open', '/', 'x'], tags: ['O', 'B-PATH', 'I-PATH'], line: 1 },
      { words: ['%', 's'], tags: ['B-FMT', 'I-FMT'], line: 3 },
    ]);
    expect(parseWordLabelRows('d.jsonl', line({ tokens: ['a'] }))).toEqual([{ words: ['a'], tags: null, line: 1 }]);
  });

  it('IOB1 and IOBES tags are read; BILOU and prefix-less tags are refused with the scheme in the hint', () => {
    expect(parseWordLabelRows('d.jsonl', line({ tokens: ['a', 'b', 'c'], tags: ['I-PER', 'S-LOC', 'E-LOC'] }))).toHaveLength(1);
    const bilou = refusal([line({ tokens: ['a'], tags: ['O'] }), line({ tokens: ['a', 'b'], tags: ['B-PER', 'L-PER'] })].join('\n'));
    expect(bilou).toMatchObject({ code: 'NER_TAG_SCHEME', line: 2 });
    expect(bilou.message).toContain('BILOU');
    expect(bilou.hint).toContain('L- → I-');
    expect(refusal(line({ tokens: ['a'], tags: ['PER'] }))).toMatchObject({ code: 'NER_TAG_SCHEME', line: 1 });
  });

  it('refuses what cannot be scored: lengths that differ, empty words, tags on some rows, unknown types, bad indices', () => {
    expect(refusal(line({ tokens: ['a', 'b'], tags: ['O'] }))).toMatchObject({ code: 'DATA_INVALID', message: 'd.jsonl:1: 2 words but 1 tags' });
    expect(refusal(line({ tokens: ['a', ''], tags: ['O', 'O'] }))).toMatchObject({ code: 'DATA_INVALID', message: 'd.jsonl:1: word 1 is empty' });
    expect(refusal(`${line({ tokens: ['a'], tags: ['O'] })}\n${line({ tokens: ['b'] })}`)).toMatchObject({ code: 'DATA_INVALID', line: 2 });
    expect(refusal('{"tokens": ["a"], "tags": ["O"]\n')).toMatchObject({ code: 'DATA_INVALID', line: 1 });
    expect(refusal(line({ text: 'a b' }))).toMatchObject({ code: 'DATA_INVALID', message: 'd.jsonl:1: no "tokens" array of words' });
    const unknown = refusal(line({ tokens: ['Paris'], tags: ['B-LOC'] }), LABELS);
    expect(unknown).toMatchObject({ code: 'NER_TAG_UNKNOWN', line: 1 });
    expect(unknown.message).toContain('FMT, PATH');
    expect(refusal(line({ tokens: ['a'], ner_tags: [5] }), LABELS)).toMatchObject({ code: 'NER_TAG_UNKNOWN' });
    expect(refusal(line({ tokens: ['a'], ner_tags: [0] }))).toMatchObject({ code: 'DATA_INVALID' });
  });
});

describe('tokenizeTokenClassificationData', () => {
  const dir = useTempDir();

  it('writes ids with each word’s first token, the tags as read, and refuses a model whose labels are not tags', async () => {
    const file = join(dir, 'ner.jsonl');
    writeFileSync(file, `${line({ tokens: ['Cannot', 'open', '/', 'etc', '/', 'passwd'], tags: ['O', 'O', 'B-PATH', 'I-PATH', 'I-PATH', 'I-PATH'] })}\n`);
    const tok = await loadTokenizer(join(BERT_DIR, 'tokenizer.json'), join(BERT_DIR, 'tokenizer_config.json'));
    const ds = (await tokenizeTokenClassificationData(file, tok, 'evaluation', { dir: 'm', config: { id2label: Object.fromEntries(LABELS.map((l, i) => [String(i), l])) } })) as unknown as TokenClassificationDataset;
    expect(ds.task).toBe('token-classification');
    const s = ds.samples[0]!;
    expect(s.ids).toEqual(tok.encode('Cannot open /etc/passwd'));
    expect(s.wordStarts[0]).toBe(1);
    expect(s.wordStarts.every((t, w) => w === 0 || t > s.wordStarts[w - 1]!)).toBe(true);
    expect(s.tags).toEqual(['O', 'O', 'B-PATH', 'I-PATH', 'I-PATH', 'I-PATH']);
    await expect(tokenizeTokenClassificationData(file, tok, 'evaluation', { dir: 'm', config: { id2label: { 0: 'de', 1: 'en' } } })).rejects.toMatchObject({
      diagnostics: [{ code: 'NER_LABELS' }],
    });
  });
});
