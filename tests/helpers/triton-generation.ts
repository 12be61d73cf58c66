// The loopback Triton server's stand-in for the text-generation Python model
// (plugins/triton/python/text_generation.py), where Python's `tokenizers` is not installed: the same
// tokenizer.json and parameters, qrun's TypeScript decode loop (src/tasks/text-generation/generate.ts)
// on the decoder model the Python model names (its 1/model.onnx), every prompt of a request in one
// left-padded batch, eos left out of the text. python/text_generation.py itself is run against this
// server's decoder model through BLS in plugins/triton/text-generation.test.ts, and its answers
// equal this loop's.
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { loadTokenizer } from '../../src/data/tokenizer.ts';
import { encodeWhole } from '../../src/tasks/text-generation/data.ts';
import { decoderIo, generate } from '../../src/tasks/text-generation/generate.ts';

interface Tensor {
  datatype: string;
  shape: number[];
  data: (number | string)[];
}

interface GenerationConfig {
  output?: { name: string }[];
  parameters?: Record<string, { string_value?: string }>;
}

export async function generationStandIn(repository: string, dir: string, config: GenerationConfig): Promise<{ infer(inputs: Map<string, Tensor>): Promise<Map<string, Tensor>>; release(): Promise<void> }> {
  const param = (k: string) => Number(config.parameters?.[k]?.string_value);
  const tokenizer = await loadTokenizer(join(dir, '1', 'tokenizer.json'));
  const session = await ort.InferenceSession.create(join(repository, String(config.parameters?.onnx_model?.string_value), '1', 'model.onnx'));
  const io = decoderIo(session, 'the served decoder');
  const [eos, maxNew, maxPositions, padId] = [param('eos_id'), param('max_new_tokens'), param('max_positions'), param('pad_id')];
  const output = config.output![0]!.name;
  return {
    async infer(inputs) {
      const text = inputs.get('TEXT')!;
      const keep = Math.max(1, maxPositions - maxNew);
      const prompts = text.data.map((t) => {
        const ids = encodeWhole(tokenizer, String(t)).slice(-keep);
        return ids.length ? ids : [padId];
      });
      const g = await generate(session, io, prompts, { newTokens: maxNew, padId, eosId: eos >= 0 ? eos : null });
      // As the Python library decodes: special tokens skipped.
      const texts = g.tokens.map((ids) => tokenizer.library.tokenizer.decode(eos >= 0 && ids.at(-1) === eos ? ids.slice(0, -1) : ids, { skip_special_tokens: true }));
      return new Map([[output, { datatype: 'BYTES', shape: [...text.shape], data: texts }]]);
    },
    release: () => session.release(),
  };
}
