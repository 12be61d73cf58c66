// The decode loop (generate.ts) on G1's decoder fixtures (tests/fixtures/decoders: seeded GPT-2,
// Llama, Qwen2 and Mistral checkpoints with transformers 5.17's float32 greedy steps,
// scripts/make-gpt-model/decoder_fixtures.py), exported by onnx.export's decoder builder: the
// greedy tokens of a prompt alone and of a left-padded batch of two are transformers' (grouped-query
// caches, tied and untied heads, q/k/v biases, a sliding window).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseDecoderConfig } from '../../export/decoder/decoder-config.ts';
import { exportDecoder } from '../../export/decoder/export-decoder.ts';
import { CheckpointWeights } from '../../export/weight-source.ts';
import { encodeModel } from '../../onnx/model-io.ts';
import { createSession } from '../../runtime/session.ts';
import { Checkpoint } from '../../safetensors/index.ts';
import { decoderIo, generate } from './generate.ts';

const FIXTURES = fileURLToPath(new URL('../../../tests/fixtures/decoders/', import.meta.url));

interface Steps {
  input_ids: number[][];
  attention_mask: number[][];
  prefill_argmax: number[];
  decode: { argmax: number[] }[];
}

/** The greedy ids of each row: the prefill's argmax, then each step's. */
const greedy = (s: Steps) => s.input_ids.map((_, r) => [s.prefill_argmax[r]!, ...s.decode.map((d) => d.argmax[r]!)]);

describe.each(['gpt2-tiny', 'gpt2-untied-tiny', 'llama-tiny', 'llama-bias-tiny', 'qwen2-tiny', 'mistral-window-tiny'])('greedy decoding of the %s fixture', (name) => {
  it('gives transformers\' greedy tokens, alone and in a left-padded batch of two', async () => {
    const dir = join(FIXTURES, name);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const reference = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as Steps & { batch: Steps };
    const checkpoint = await Checkpoint.open(dir);
    let bytes: Uint8Array;
    try {
      bytes = encodeModel((await exportDecoder(parseDecoderConfig(config, join(dir, 'config.json')), new CheckpointWeights(checkpoint))).model);
    } finally {
      await checkpoint.close();
    }
    const session = await createSession(bytes, { intraOpThreads: 1 });
    const io = decoderIo(session, name);
    const alone = greedy(reference)[0]!;
    expect((await generate(session, io, reference.input_ids, { newTokens: alone.length, padId: 0 })).tokens[0]).toEqual(alone);
    const b = reference.batch;
    const rows = b.input_ids.map((r, i) => r.filter((_, j) => b.attention_mask[i]![j] === 1));
    expect(rows[1]!.length).toBeLessThan(rows[0]!.length); // a padded row
    expect((await generate(session, io, rows, { newTokens: alone.length, padId: 0 })).tokens).toEqual(greedy(b));
    await session.release();
  });
});
