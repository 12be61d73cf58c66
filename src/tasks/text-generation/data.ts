// Text-generation data sets: JSON lines {"text": "..."} (a "label" is ignored), tokenized with the
// model's own tokenizer.json as the Python tokenizers library encodes one text (special tokens as
// its post-processor adds them: none for GPT-2's byte-level BPE, <s> first for Llama's template),
// kept up to the model's position limit (config.json n_positions / max_position_embeddings). The
// ids are what bench needs: a prompt is a text's first `promptTokens` ids, and perplexity is taken
// over the stored ids (src/tasks/text-generation/perplexity.ts). Nothing here loads onnxruntime.
import { join } from 'node:path';
import { readTextDataset } from '../../data/text-dataset.ts';
import type { LoadedTokenizer } from '../../data/tokenizer.ts';
import type { TokenizedDataset } from '../../data/tokenized-dataset.ts';
import type { TaskModel } from '../task.ts';
import { textGenerationErrors } from './errors.ts';

export type GenerationSample = TokenizedDataset['samples'][number] & { text: string };
export type GenerationDataset = Omit<TokenizedDataset, 'samples'> & {
  task: 'text-generation';
  /** The token that ends a generation (config.json / generation_config.json eos_token_id), null when none. */
  eosId: number | null;
  samples: GenerationSample[];
};

export function isGenerationDataset(d: TokenizedDataset | undefined): d is GenerationDataset {
  return (d as { task?: string } | undefined)?.task === 'text-generation';
}

/** The model's position limit from config.json: GPT-2's n_positions, Llama's max_position_embeddings. */
export function positionLimit(config: Record<string, unknown> | undefined): number | undefined {
  const v = [config?.n_positions, config?.max_position_embeddings, config?.n_ctx].find((x): x is number => typeof x === 'number' && x > 0);
  return v;
}

/** config.json's eos_token_id (the first, when it is a list). */
export function eosTokenId(config: Record<string, unknown> | undefined): number | null {
  const v = config?.eos_token_id;
  if (typeof v === 'number') return v;
  if (Array.isArray(v) && typeof v[0] === 'number') return v[0];
  return null;
}

/** The ids of one text as the Python library's `Tokenizer.encode(text).ids` gives them, not truncated. */
export function encodeWhole(tokenizer: LoadedTokenizer, text: string): number[] {
  return tokenizer.library.tokenizer.encode(text).ids;
}

/** hf.load's tokenized form of a text file for a decoder (task: text-generation). */
export async function tokenizeGenerationData(file: string, tokenizer: LoadedTokenizer, name: string, model?: TaskModel): Promise<GenerationDataset> {
  const texts = await readTextDataset(file);
  const limit = positionLimit(model?.config) ?? tokenizer.maxLength;
  // The pad id (tokenizer_config.json's pad_token; GPT-2 checkpoints often name eos): left padding
  // is masked, so any id of the vocabulary gives the same tokens.
  const eosId = eosTokenId(model?.config);
  const padId = tokenizer.padId;
  const samples = texts.map((t) => ({ ids: encodeWhole(tokenizer, t.text).slice(0, limit), label: null, line: t.line, text: t.text }));
  // An id past config.json's vocab_size (a tokenizer from another model) would fail later, inside
  // onnxruntime's embedding Gather in GPTQ's or bench's pass, naming no text: say which line here.
  const vocab = model?.config.vocab_size;
  if (typeof vocab === 'number' && vocab > 0) {
    for (const s of samples) {
      const id = s.ids.find((x) => x >= vocab);
      if (id !== undefined) throw textGenerationErrors.idBeyondVocab(file, s.line, id, vocab, join(model!.dir, 'config.json'));
    }
  }
  return {
    task: 'text-generation',
    name,
    maxLength: limit,
    padId,
    eosId,
    labels: [],
    samples,
  };
}
