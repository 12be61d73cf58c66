// The loopback Triton server's stand-in for the token-classification entities model
// (plugins/triton/python/token_classification.py), where Python's `tokenizers` is not installed:
// the same tokenizer.json and max_length, the text encoded word by word as the tokenizer model's
// stand-in encodes it, and src/tasks/token-classification/entities.ts for the entities. The Python
// model itself ran on the GPU machine with the real library (tests/fixtures/bert-ner/served.json,
// compared with this stand-in in tests/e2e/ner-int8.test.ts).
import { join } from 'node:path';
import { loadTokenizer } from '../../src/data/tokenizer.ts';
import { encodeText, entitiesOfText } from '../../src/tasks/token-classification/entities.ts';

interface Tensor {
  datatype: string;
  shape: number[];
  data: (number | string)[];
}

interface EntitiesConfig {
  input?: { name: string }[];
  output?: { name: string }[];
  parameters?: Record<string, { string_value?: string }>;
}

export async function entitiesStandIn(dir: string, config: EntitiesConfig): Promise<(inputs: Map<string, Tensor>) => Promise<Map<string, Tensor>>> {
  const param = (k: string) => config.parameters?.[k]?.string_value ?? '';
  const maxLength = Number(param('max_length'));
  const labels = JSON.parse(param('labels')) as string[];
  const tokenizer = await loadTokenizer(join(dir, '1', 'tokenizer.json'), undefined, maxLength);
  const output = config.output![0]!.name;
  return async (inputs) => {
    const text = inputs.get('TEXT')!;
    const logits = inputs.get('logits')!;
    const [batch, width, L] = logits.shape as [number, number, number];
    if (L !== labels.length || batch !== text.data.length) throw new Error(`entities stand-in: logits [${logits.shape.join(', ')}] for ${text.data.length} texts and ${labels.length} tags`);
    const rows = text.data.map((t, b) => {
      const s = String(t);
      const enc = encodeText(tokenizer, s, maxLength);
      if (enc.ids.length > width) throw new Error(`entities stand-in: text ${b} has ${enc.ids.length} tokens but its logits ${width}`);
      const row = (logits.data as number[]).slice(b * width * L, (b + 1) * width * L);
      return JSON.stringify(entitiesOfText(s, enc, row, labels));
    });
    return new Map([[output, { datatype: 'BYTES', shape: [...text.shape], data: rows }]]);
  };
}
