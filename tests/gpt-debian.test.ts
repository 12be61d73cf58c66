// The shipped models/gpt-debian tokenizer and reference, and the decoder fixtures
// (tests/fixtures/decoders), read the way qrun reads them. The token ids the Python `tokenizers`
// library gave on the GPU machine (scripts/make-gpt-model/train_gpt.py) are the ids the PyTorch
// reference logits and perplexity were computed from, so the JS tokenizer must give the same ids
// or every comparison against those numbers is off from the first token.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../src/data/tokenizer.ts';
import { REPO } from './helpers/cli.ts';

const MODEL = join(REPO, 'models/gpt-debian');
const DATA = join(REPO, 'data/gpt-debian');
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
const readTexts = (p: string): string[] =>
  readFileSync(p, 'utf8').split('\n').filter((l) => l.trim()).map((l) => (JSON.parse(l) as { text: string }).text);
const sha = (ids: readonly number[]) => createHash('sha256').update(ids.join(',')).digest('hex');

interface TokenIds {
  eval_first_256: number[][];
  eval_full: { n: number; sha256: string }[];
  calib_full: { n: number; sha256: string }[];
}

describe('models/gpt-debian tokenizer in @huggingface/tokenizers', () => {
  const evalTexts = readTexts(join(DATA, 'eval.jsonl'));
  const calibTexts = readTexts(join(DATA, 'calib.jsonl'));
  const py = readJson(join(DATA, 'token-ids.json')) as TokenIds;
  const load = () => loadTokenizer(join(MODEL, 'tokenizer.json'), join(MODEL, 'tokenizer_config.json'));

  it('gives the Python ids for every eval and calibration text and decodes them back byte for byte', async () => {
    const tok = (await load()).library.tokenizer;
    expect(evalTexts.length).toBe(128);
    expect(py.eval_full.length).toBe(evalTexts.length);
    expect(calibTexts.length).toBe(py.calib_full.length);
    const check = (texts: string[], want: { n: number; sha256: string }[]) =>
      texts.map((text, i) => {
        const ids = tok.encode(text, { add_special_tokens: false }).ids;
        const back = tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
        const w = want[i];
        return { i, n: ids.length === w?.n, ids: sha(ids) === w?.sha256, roundTrip: back === text };
      }).filter((r) => !(r.n && r.ids && r.roundTrip));
    expect(check(evalTexts, py.eval_full)).toEqual([]);
    expect(check(calibTexts, py.calib_full)).toEqual([]);
  });

  it("qrun's loader truncates to the 256-token perplexity window exactly as the Python ids", async () => {
    const tok = await load();
    expect(tok.maxLength).toBe(256);
    evalTexts.forEach((text, i) => {
      const want = py.eval_first_256[i] ?? [];
      expect(tok.encode(text), `eval text ${i}`).toEqual(want);
      expect(want.length).toBeGreaterThanOrEqual(100);
    });
  });

  it("reference.json's prompts are the first tokens of the eval texts as the JS tokenizer splits them", async () => {
    const tok = await load();
    const ref = readJson(join(MODEL, 'reference.json'));
    const config = readJson(join(MODEL, 'config.json'));
    expect(ref.prompts.length).toBe(2);
    for (const p of ref.prompts) {
      const ids = tok.encode(evalTexts[p.text_index] ?? '').slice(0, ref.prompt_tokens);
      expect(p.input_ids).toEqual([ids]);
      expect(p.prefill_logits_last.length).toBe(config.vocab_size);
      // each greedy step's input is the previous step's argmax
      const chain = [p.prefill_argmax, ...p.decode.map((s: { argmax: number }) => s.argmax)];
      expect(p.decode.map((s: { input_ids: number[][] }) => s.input_ids[0]?.[0])).toEqual(chain.slice(0, -1));
      expect(p.greedy_ids).toEqual(chain);
    }
    const b = ref.batch;
    b.text_indices.forEach((t: number, row: number) => {
      const real = b.input_ids[row].filter((_: number, j: number) => b.attention_mask[row][j] === 1);
      expect(real).toEqual(tok.encode(evalTexts[t] ?? '').slice(0, real.length));
    });
    expect(ref.eval_perplexity.texts).toBe(128);
    expect(ref.eval_perplexity.predicted_tokens).toBe(py.eval_first_256.reduce((s, x) => s + x.length - 1, 0));
  });
});
