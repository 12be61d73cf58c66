// Question-answering data sets: JSON lines in SQuAD's layout, one question per line:
//   {"id": "…", "question": "…", "context": "…", "answers": {"text": ["…"], "answer_start": [17]}}
// (`id` and `answers` optional: a calibration set needs neither). Each pair is tokenized as the
// model's tokenizer does for QA — question first, only the context truncated — with the context
// tokens' character offsets and word indices, so predicted token spans map back to text.
import { readFile } from 'node:fs/promises';
import { pairEncoder } from '../../data/pair-encoder.ts';
import type { LoadedTokenizer } from '../../data/tokenizer.ts';
import type { TokenizedDataset } from '../../data/tokenized-dataset.ts';
import { errors } from '../../errors.ts';
import { qaErrors } from './errors.ts';

export interface QaExample {
  id: string;
  question: string;
  context: string;
  /** Gold answers' texts (empty when the data has none). */
  answers: string[];
  line: number;
}

/** What hf.load stores per sample beyond ids and token types (bench and the tests read it). */
export interface QaSampleInfo {
  id: string;
  context: string;
  answers: string[];
  contextStart: number;
  contextOffsets: [number, number][];
  contextWords: number[];
  truncated: number;
}

export type QaSample = TokenizedDataset['samples'][number] & { typeIds: number[]; qa: QaSampleInfo };
export type QaDataset = Omit<TokenizedDataset, 'samples'> & { task: 'question-answering'; samples: QaSample[] };

export function isQaDataset(d: TokenizedDataset | undefined): d is QaDataset {
  return (d as { task?: string } | undefined)?.task === 'question-answering';
}

export async function readQaExamples(file: string): Promise<QaExample[]> {
  const lines = (await readFile(file, 'utf8')).split('\n');
  const out: QaExample[] = [];
  lines.forEach((text, i) => {
    if (!text.trim()) return;
    const line = i + 1;
    let rec: { id?: unknown; question?: unknown; context?: unknown; answers?: { text?: unknown; answer_start?: unknown } };
    try {
      rec = JSON.parse(text) as typeof rec;
    } catch (e) {
      throw errors.dataInvalid(file, line, `line ${line} is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof rec.question !== 'string' || !rec.question.trim()) throw qaErrors.dataInvalid(file, line, 'has no "question" string');
    if (typeof rec.context !== 'string' || !rec.context.trim()) throw qaErrors.dataInvalid(file, line, 'has no "context" string');
    const answers: string[] = [];
    if (rec.answers !== undefined) {
      const texts = rec.answers?.text;
      const starts = rec.answers?.answer_start;
      if (!Array.isArray(texts) || !Array.isArray(starts) || texts.length !== starts.length) {
        throw qaErrors.dataInvalid(file, line, '"answers" must be {"text": [..], "answer_start": [..]} with one start per text');
      }
      texts.forEach((t, k) => {
        const s = starts[k];
        if (typeof t !== 'string' || typeof s !== 'number' || !Number.isInteger(s)) throw qaErrors.dataInvalid(file, line, `answer ${k + 1}: text must be a string and answer_start an integer`);
        if (rec.context !== undefined && (rec.context as string).slice(s, s + t.length) !== t) {
          throw qaErrors.answerNotInContext(file, line, t, s, (rec.context as string).slice(s, s + t.length));
        }
        answers.push(t);
      });
    }
    out.push({ id: typeof rec.id === 'string' || typeof rec.id === 'number' ? String(rec.id) : String(line), question: rec.question, context: rec.context, answers, line });
  });
  if (out.length === 0) throw errors.dataEmpty(file);
  return out;
}

/** hf.load's tokenized form of a QA file (task: question-answering). */
export async function tokenizeQaData(file: string, tokenizer: LoadedTokenizer, name: string): Promise<QaDataset> {
  const examples = await readQaExamples(file);
  const encoder = pairEncoder(tokenizer);
  const samples = examples.map((ex): QaSample => {
    const e = encoder.encode(ex.question, ex.context);
    return {
      ids: e.ids,
      typeIds: e.typeIds,
      label: null,
      line: ex.line,
      qa: { id: ex.id, context: ex.context, answers: ex.answers, contextStart: e.contextStart, contextOffsets: e.contextOffsets, contextWords: e.contextWords, truncated: e.truncated },
    };
  });
  return { task: 'question-answering', name, maxLength: encoder.maxLength, padId: tokenizer.padId, labels: [], samples };
}
