// hf.load's reading of text-generation data (data.ts): each text's ids as the tokenizer encodes the
// whole text (no truncation to the tokenizer's own limit), cut at the model's position limit;
// eos from config.json; a bad line is DATA_INVALID at its file:line.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { QrunError } from '../../errors.ts';
import { loadTokenizer } from '../../data/tokenizer.ts';
import { tinyTokenizerJson } from '../../../plugins/triton/testing/tiny-gpt.ts';
import { eosTokenId, positionLimit, tokenizeGenerationData } from './data.ts';

const dir = mkdtempSync(join(tmpdir(), 'qrun-gen-data-'));
const { json, eotId } = tinyTokenizerJson();
writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
// The tokenizer's own limit (8) is below the model's positions (12): the model's decides.
writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 8, pad_token: '<|endoftext|>' }));

describe('tokenizeGenerationData', () => {
  it('keeps each text\'s ids up to the model\'s position limit, with eos and pad from the model', async () => {
    const tokenizer = await loadTokenizer(join(dir, 'tokenizer.json'), join(dir, 'tokenizer_config.json'));
    const file = join(dir, 'eval.jsonl');
    const long = 'the file is in the other file and the man said that it is not there';
    writeFileSync(file, `${JSON.stringify({ text: 'the file' })}\n\n${JSON.stringify({ text: long, label: 3 })}\n`);
    const config = { n_positions: 12, eos_token_id: [eotId, 5] };
    const d = await tokenizeGenerationData(file, tokenizer, 'evaluation', { dir, config });
    const whole = tokenizer.library.tokenizer.encode(long).ids;
    expect(whole.length).toBeGreaterThan(12);
    expect(d.samples.map((s) => s.ids)).toEqual([tokenizer.library.tokenizer.encode('the file').ids, whole.slice(0, 12)]);
    expect(d.samples.map((s) => s.line)).toEqual([1, 3]);
    expect([d.task, d.maxLength, d.eosId, d.padId]).toEqual(['text-generation', 12, eotId, eotId]);
  });

  it('a line without text is DATA_INVALID at its file:line', async () => {
    const tokenizer = await loadTokenizer(join(dir, 'tokenizer.json'));
    const file = join(dir, 'bad.jsonl');
    writeFileSync(file, `${JSON.stringify({ text: 'ok' })}\n${JSON.stringify({ prompt: 'no text' })}\n`);
    const error = await tokenizeGenerationData(file, tokenizer, 'evaluation').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QrunError);
    const d = (error as QrunError).diagnostics[0]!;
    expect(d.code).toBe('DATA_INVALID');
    expect(`${d.location?.file}:${d.location?.line}`).toBe(`${file}:2`);
  });

  it('an id past config.json vocab_size (a tokenizer from another model) is GENERATION_DATA at the text\'s file:line', async () => {
    const tokenizer = await loadTokenizer(join(dir, 'tokenizer.json'));
    const file = join(dir, 'vocab.jsonl');
    writeFileSync(file, `${JSON.stringify({ text: 'the' })}\n${JSON.stringify({ text: 'the file' })}\n`);
    const [the, fileId] = [tokenizer.library.tokenizer.encode('the').ids[0]!, tokenizer.library.tokenizer.encode('the file').ids.at(-1)!];
    const vocab = Math.max(the, fileId);
    expect(vocab).toBe(fileId); // 'the' fits, ' file' does not
    const error = await tokenizeGenerationData(file, tokenizer, 'evaluation', { dir, config: { vocab_size: vocab } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QrunError);
    const d = (error as QrunError).diagnostics[0]!;
    expect([d.code, `${d.location?.file}:${d.location?.line}`]).toEqual(['GENERATION_DATA', `${file}:2`]);
    expect(d.message).toContain(`id ${fileId}, but ${join(dir, 'config.json')} has vocab_size ${vocab}`);
    expect((await tokenizeGenerationData(file, tokenizer, 'evaluation', { dir, config: { vocab_size: vocab + 1 } })).samples).toHaveLength(2);
  });

  it('reads the position limit and eos of GPT-2 and Llama configs', () => {
    expect(positionLimit({ n_positions: 1024 })).toBe(1024);
    expect(positionLimit({ max_position_embeddings: 4096 })).toBe(4096);
    expect(positionLimit({})).toBeUndefined();
    expect([eosTokenId({ eos_token_id: 2 }), eosTokenId({ eos_token_id: [7, 8] }), eosTokenId({})]).toEqual([2, 7, null]);
  });
});
