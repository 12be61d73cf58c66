// A tiny GPT-2 for the text-generation Triton tests, without any trained files: a byte-level BPE
// tokenizer.json in GPT-2's shape (the 256 byte symbols, a few merges, <|endoftext|> as the special
// token; ByteLevel pre-tokenizer, post-processor and decoder), and a 2-layer GPT-2 of that vocabulary
// with seeded random weights exported by qrun's decoder exporter, in an hf-model folder as hf.load
// writes it (config.json, tokenizer files, generation_config.json, task.json).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDecoderConfig } from '../../../src/export/decoder/decoder-config.ts';
import { exportDecoder } from '../../../src/export/decoder/export-decoder.ts';
import { AllRandomWeights } from '../../../src/export/decoder/testing.ts';
import { encodeModel } from '../../../src/onnx/model-io.ts';

/** GPT-2's byte → printable character map (bytes_to_unicode). */
export function byteSymbols(): string[] {
  const keep = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const out: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = keep(b) ? String.fromCharCode(b) : String.fromCharCode(256 + n++);
  return out;
}

// Merges in rank order; each result is a token of the vocabulary.
const MERGES = ['Ġ t', 'h e', 'Ġt he', 'i n', 'e r', 'a n', 'o n', 'Ġ a', 'r e', 'Ġ s', 'Ġ c', 'Ġ f', 'Ġ w', 'Ġ o', 'e s', 'o r', 'i s', 'Ġ p', 'Ġ i', 'in g', 'Ġ m', 'Ġ d', 'e d', 'a t', 'Ġf i', 'Ġfi le', 'l e'];
// 'le' is merged after 'Ġfi le' would need it: keep rank order valid by listing 'l e' before its use.
const ORDERED = [...MERGES.filter((m) => m !== 'Ġfi le'), 'Ġfi le'];

export const EOT = '<|endoftext|>';

export function tinyTokenizerJson(): { json: Record<string, unknown>; vocabSize: number; eotId: number } {
  const vocab: Record<string, number> = {};
  for (const s of byteSymbols()) vocab[s] ??= Object.keys(vocab).length;
  for (const m of ORDERED) vocab[m.replace(' ', '')] ??= Object.keys(vocab).length;
  const eotId = Object.keys(vocab).length;
  vocab[EOT] = eotId;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: eotId, content: EOT, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: ORDERED },
  };
  return { json, vocabSize: eotId + 1, eotId };
}

export interface TinyGpt {
  hfDir: string;
  modelFile: string;
  eotId: number;
  config: Record<string, unknown>;
}

/** Writes `<dir>/hf/` and `<dir>/model.onnx`. */
export async function writeTinyGpt(dir: string, options: { seed?: number; maxNewTokens?: number; positions?: number } = {}): Promise<TinyGpt> {
  const { json, vocabSize, eotId } = tinyTokenizerJson();
  const config = {
    model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: vocabSize, n_embd: 32, n_layer: 2, n_head: 4,
    n_positions: options.positions ?? 64, bos_token_id: eotId, eos_token_id: eotId,
  };
  const hfDir = join(dir, 'hf');
  mkdirSync(hfDir, { recursive: true });
  const write = (f: string, v: unknown) => writeFileSync(join(hfDir, f), `${JSON.stringify(v, null, 1)}\n`);
  write('config.json', config);
  write('tokenizer.json', json);
  write('tokenizer_config.json', { tokenizer_class: 'GPT2Tokenizer', model_max_length: config.n_positions, bos_token: EOT, eos_token: EOT, pad_token: EOT });
  write('generation_config.json', { bos_token_id: eotId, eos_token_id: eotId, max_new_tokens: options.maxNewTokens ?? 12 });
  write('task.json', { task: 'text-generation', from: 'architectures', detail: 'GPT2LMHeadModel' });
  const { model } = await exportDecoder(parseDecoderConfig(config, join(hfDir, 'config.json')), new AllRandomWeights(options.seed ?? 11, 0.3));
  const modelFile = join(dir, 'model.onnx');
  writeFileSync(modelFile, encodeModel(model));
  return { hfDir, modelFile, eotId, config };
}
