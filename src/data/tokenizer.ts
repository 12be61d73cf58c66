// Tokenization with the model's own tokenizer.json, in TypeScript (@huggingface/tokenizers).
// That library does not apply tokenizer.json's `truncation` section, so we truncate as the Python
// tokenizers library does: cut the content to max_length minus the special tokens the
// post-processor adds, then add them (so [SEP] / </s> stays last).
import { readFile } from 'node:fs/promises';
import { Tokenizer } from '@huggingface/tokenizers';

interface PostProcessorFn {
  (a: string[], b: string[] | null, addSpecial: boolean): { tokens: string[]; token_type_ids?: number[] };
}

export interface LoadedTokenizer {
  encode(text: string): number[];
  maxLength: number;
  padId: number;
  /**
   * The @huggingface/tokenizers instance and the tokenizer.json it was built from, for tasks that
   * need more than one text's ids (question + context pairs with offsets: src/data/pair-encoder.ts).
   */
  library: { tokenizer: Tokenizer; json: Record<string, unknown> };
}

export async function loadTokenizer(tokenizerJson: string, tokenizerConfigJson?: string, maxLengthOverride?: number): Promise<LoadedTokenizer> {
  const json = JSON.parse(await readFile(tokenizerJson, 'utf8')) as { truncation?: { max_length?: number } | null; padding?: { pad_id?: number } | null };
  const config = tokenizerConfigJson
    ? (JSON.parse(await readFile(tokenizerConfigJson, 'utf8')) as { model_max_length?: number; pad_token?: string })
    : {};
  const tok = new Tokenizer(json, config);
  const fromConfig = config.model_max_length && config.model_max_length < 1e6 ? config.model_max_length : undefined;
  const maxLength = maxLengthOverride ?? json.truncation?.max_length ?? fromConfig ?? 512;
  const post = (tok as unknown as { post_processor: PostProcessorFn | null }).post_processor;
  const withSpecial = (tokens: string[]) => (post ? post(tokens, null, true).tokens : tokens);
  const specialCount = withSpecial([]).length;
  const unk = (tok as unknown as { model: { unk_token_id?: number } }).model.unk_token_id ?? 0;
  const padToken = config.pad_token ?? '[PAD]';
  const padId = json.padding?.pad_id ?? tok.token_to_id(padToken) ?? tok.token_to_id('<pad>') ?? 0;
  return {
    maxLength,
    padId,
    library: { tokenizer: tok, json: json as Record<string, unknown> },
    encode(text: string): number[] {
      const content = tok.tokenize(text, { add_special_tokens: false });
      const kept = content.slice(0, Math.max(0, maxLength - specialCount));
      return withSpecial(kept).map((t) => tok.token_to_id(t) ?? unk);
    },
  };
}
