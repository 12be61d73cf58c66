// The TypeScript tokenizer against ids from the Python tokenizers library, for every tokenizer kind
// in the zoo: WordPiece (bert, distilbert, electra, mpnet), byte-level BPE (roberta) and Unigram
// (xlm-roberta, albert, deberta-v2). References were made on the GPU machine (scripts/make-zoo).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from './tokenizer.ts';

const ZOO = fileURLToPath(new URL('../../tests/fixtures/zoo', import.meta.url));
const TEXT_MODELS = ['bert', 'distilbert', 'electra', 'mpnet', 'roberta', 'xlm-roberta', 'albert', 'deberta-v2'];

interface Reference {
  tokenizer: { spec: string };
  items: { text: string; ids: number[] }[];
}

describe.each(TEXT_MODELS)('tokenizer.json of zoo/%s', (name) => {
  const dir = join(ZOO, name);
  it('gives the Python tokenizers ids on every reference text', async () => {
    const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as Reference;
    const config = join(dir, 'tokenizer_config.json');
    const tok = await loadTokenizer(join(dir, 'tokenizer.json'), existsSync(config) ? config : undefined);
    expect(ref.items.length).toBeGreaterThanOrEqual(8);
    const mismatches = ref.items.filter((item) => JSON.stringify(tok.encode(item.text)) !== JSON.stringify(item.ids)).map((i) => i.text);
    expect({ spec: ref.tokenizer.spec, mismatches }).toEqual({ spec: ref.tokenizer.spec, mismatches: [] });
  });
});
