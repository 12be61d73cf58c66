// QA data files: SQuAD's layout read line by line, bad lines refused with their file:line and a
// code; pairs tokenized question first with only the context truncated, offsets kept.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../data/tokenizer.ts';
import { QrunError } from '../../errors.ts';
import { BERT_DIR } from '../../../tests/helpers/bert-langid.ts';
import { readQaExamples, tokenizeQaData } from './data.ts';

function file(lines: unknown[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'qa-data-'));
  const f = join(dir, 'qa.jsonl');
  writeFileSync(f, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return f;
}

const good = { id: 'x', question: 'What does -v do?', context: '-v: Invert the sense of matching.', answers: { text: ['Invert the sense of matching'], answer_start: [4] } };

async function failure(p: Promise<unknown>): Promise<{ code: string; line?: number; file?: string }> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(QrunError);
  const d = (e as QrunError).diagnostics[0]!;
  return { code: d.code, line: d.location?.line, file: d.location?.file };
}

describe('question-answering data', () => {
  it('reads SQuAD lines, with or without answers', async () => {
    const f = file([good, { question: 'q?', context: 'c' }]);
    const rows = await readQaExamples(f);
    expect(rows.map((r) => [r.id, r.answers, r.line])).toEqual([
      ['x', ['Invert the sense of matching'], 1],
      ['2', [], 2],
    ]);
  });

  it('refuses an answer that is not at its answer_start, naming the line', async () => {
    const f = file([good, { ...good, answers: { text: ['Invert'], answer_start: [3] } }]);
    expect(await failure(readQaExamples(f))).toEqual({ code: 'QA_ANSWER_NOT_IN_CONTEXT', line: 2, file: f });
  });

  it('refuses a line with no question or context, or malformed answers', async () => {
    expect((await failure(readQaExamples(file([{ context: 'c' }])))).code).toBe('QA_DATA_INVALID');
    expect((await failure(readQaExamples(file([good, good, { question: 'q', context: 'c', answers: { text: ['c'] } }])))).line).toBe(3);
    expect((await failure(readQaExamples(file(['{not json'])))).code).toBe('DATA_INVALID');
  });

  it('tokenizes each pair: [CLS] question [SEP] context [SEP], types 1 on the context, only the context cut', async () => {
    const tokenizer = await loadTokenizer(join(BERT_DIR, 'tokenizer.json'), join(BERT_DIR, 'tokenizer_config.json'), 16);
    const long = { ...good, context: `${good.context} ${'More words follow here. '.repeat(10)}` };
    const ds = await tokenizeQaData(file([good, long]), tokenizer, 'evaluation');
    const [a, b] = ds.samples;
    expect(ds.task).toBe('question-answering');
    const q = tokenizer.library.tokenizer.tokenize(good.question, { add_special_tokens: false }).length;
    expect(a!.qa.contextStart).toBe(q + 2);
    expect(a!.typeIds).toEqual([...Array<number>(q + 2).fill(0), ...Array<number>(a!.ids.length - q - 2).fill(1)]);
    // The long context is cut to fit 16 tokens; the question and the last [SEP] stay.
    expect(b!.ids).toHaveLength(16);
    expect(b!.ids.slice(0, q + 2)).toEqual(a!.ids.slice(0, q + 2));
    expect(b!.ids.at(-1)).toBe(a!.ids.at(-1));
    expect(b!.qa.truncated).toBeGreaterThan(0);
    // Offsets map each context token back to its characters.
    const text = b!.qa.contextOffsets.map(([s, e]) => good.context.slice(s, e));
    expect(text.slice(0, 5)).toEqual(['-', 'v', ':', 'Inv', 'ert']);
    expect(b!.qa.contextWords.slice(0, 5)).toEqual([0, 1, 2, 3, 3]);
  });
});
