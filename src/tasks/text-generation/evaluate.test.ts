// bench's evaluation of a decoder (evaluate.ts) on seeded GPT-2 decoders, through onnxruntime: a
// model against itself agrees fully with no perplexity change; against a perturbed copy of itself
// (weights off by a little) the agreement falls below 1 and the perplexity changes, and the numbers
// are the ones perplexity.ts and agreement.ts give on their own; the timing rows are bench's latency
// rows with tokens/s. No timing is asserted.
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDecoderConfig } from '../../export/decoder/decoder-config.ts';
import { exportDecoder } from '../../export/decoder/export-decoder.ts';
import { AllRandomWeights } from '../../export/decoder/testing.ts';
import type { WeightInit, WeightSource } from '../../export/weight-source.ts';
import { QrunError } from '../../errors.ts';
import { encodeModel } from '../../onnx/model-io.ts';
import { createSession } from '../../runtime/session.ts';
import type { TaskEvaluation } from '../task.ts';
import { setAgreement } from './agreement.ts';
import type { GenerationDataset } from './data.ts';
import { evaluateTextGeneration, promptsOf } from './evaluate.ts';
import { decoderIo, generate } from './generate.ts';
import { perplexityPair } from './perplexity.ts';

const CONFIG = { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: 61, n_embd: 32, n_layer: 2, n_head: 4, n_positions: 64 };

/** The same random weights plus a small seeded perturbation: a stand-in for a quantized copy. */
class Perturbed implements WeightSource {
  constructor(
    private readonly base: WeightSource,
    private readonly noise: WeightSource,
  ) {}
  get description() {
    return 'perturbed';
  }
  async tensor(name: string, shape: number[], init: WeightInit) {
    const a = await this.base.tensor(name, shape, init);
    const b = await this.noise.tensor(name, shape, { normal: true });
    return a.map((x, i) => x + b[i]!);
  }
  async transposed(name: string, shape: [number, number], init: WeightInit) {
    return this.tensor(name, [shape[1], shape[0]], init);
  }
}

const texts = Array.from({ length: 6 }, (_, k) => Array.from({ length: 20 + 3 * k }, (_, i) => (i * 7 + k * 13 + 1) % 61));
const dataset: GenerationDataset = { task: 'text-generation', name: 'evaluation', maxLength: 64, padId: 0, eosId: null, labels: [], samples: texts.map((ids, i) => ({ ids, label: null, line: i + 1, text: '' })) };

function evaluation(fp32: ort.InferenceSession, int8: ort.InferenceSession): TaskEvaluation {
  const batches = { samples: texts.length, labels: [], batches: [] } as unknown as TaskEvaluation['fp32Batches'];
  return {
    fp32,
    int8,
    fp32Batches: batches,
    int8Batches: batches,
    dataset,
    signal: new AbortController().signal,
    progress: () => {},
    timing: { warmup: 0, iterations: 4, blocks: 2 },
    generation: { promptTokens: 8, newTokens: 10, prompts: 0, batchSizes: [1, 3], timedTokens: 5 },
  };
}

describe('evaluateTextGeneration', () => {
  let fp32: ort.InferenceSession;
  let other: ort.InferenceSession;
  beforeAll(async () => {
    const cfg = parseDecoderConfig(CONFIG, 'config.json');
    fp32 = await createSession(encodeModel((await exportDecoder(cfg, new AllRandomWeights(5, 0.3))).model), { intraOpThreads: 1 });
    other = await createSession(encodeModel((await exportDecoder(cfg, new Perturbed(new AllRandomWeights(5, 0.3), new AllRandomWeights(6, 0.03)))).model), { intraOpThreads: 1 });
  });
  afterAll(async () => {
    await fp32?.release();
    await other?.release();
  });

  it('refuses data not read for generation, and texts too short for a prompt (GENERATION_DATA, with the fix)', async () => {
    const classification = { ...evaluation(fp32, fp32), dataset: { name: 'evaluation', maxLength: 64, padId: 0, labels: [], samples: [{ ids: [1, 2], label: 0 }] } };
    const notText = await evaluateTextGeneration(classification).catch((e: unknown) => e);
    expect((notText as QrunError).diagnostics[0]).toMatchObject({ code: 'GENERATION_DATA' });
    expect((notText as QrunError).diagnostics[0]!.hint).toContain('task: text-generation');
    const short = await evaluateTextGeneration({ ...evaluation(fp32, fp32), generation: { promptTokens: 40, newTokens: 4, timedTokens: 4 } }).catch((e: unknown) => e);
    expect(short).toBeInstanceOf(QrunError);
    expect((short as QrunError).diagnostics[0]!.message).toBe('data set "evaluation": no text has more than 40 tokens (the longest has 35), so none gives a prompt');
    expect((short as QrunError).diagnostics[0]!.hint).toContain('promptTokens');
  });

  it("refuses a prompt + continuation longer than the model's positions (GENERATION_SETTINGS) before any pass", async () => {
    // 8 + 57 − 1 = 64 positions fit n_positions 64; one more token would index past GPT-2's position table.
    for (const [option, tokens] of [['newTokens', 58], ['timedTokens', 58]] as const) {
      const e = await evaluateTextGeneration({ ...evaluation(fp32, fp32), generation: { promptTokens: 8, [option]: tokens } }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(QrunError);
      expect((e as QrunError).diagnostics[0]).toMatchObject({ code: 'GENERATION_SETTINGS' });
      expect((e as QrunError).diagnostics[0]!.message).toContain(`generation.${option} (58) − 1 = 65 positions, more than the model's 64`);
    }
    const fits = await evaluateTextGeneration({ ...evaluation(fp32, fp32), timing: { warmup: 0, iterations: 1, blocks: 1 }, generation: { promptTokens: 8, newTokens: 57, prompts: 1, batchSizes: [1], timedTokens: 57 } });
    expect((fits.metrics as { newTokens: number }).newTokens).toBe(57);
  });

  it('a model against itself: full agreement, no perplexity change, identical logits', async () => {
    const s = await evaluateTextGeneration(evaluation(fp32, fp32));
    const m = s.metrics as Record<string, number>;
    expect([m.tokenAgreement, m.exactMatch, m.perplexityIncrease, m.maxAbsError, m.prompts]).toEqual([1, 1, 0, 0, 6]);
    expect(s.headline.agreement).toBe(1);
  });

  it('against a perturbed copy: the agreement and perplexities of agreement.ts and perplexity.ts, and tokens/s rows', async () => {
    const s = await evaluateTextGeneration(evaluation(fp32, other));
    const m = s.metrics as Record<string, unknown> & { tokenAgreement: number; fp32Perplexity: number; int8Perplexity: number; perplexityIncrease: number; tokensPerSecond: { batch: number; newTokens: number; fp32: number }[] };
    const a = { session: fp32, io: decoderIo(fp32, 'a') };
    const b = { session: other, io: decoderIo(other, 'b') };
    const prompts = promptsOf(texts, 8);
    const gen = async (x: typeof a) => Promise.all(prompts.map(async (p) => (await generate(x.session, x.io, [p], { newTokens: 10, padId: 0 })).tokens[0]!));
    const expected = setAgreement(await gen(a), await gen(b), 10);
    expect(m.tokenAgreement).toBe(expected.tokenAgreement);
    expect(m.tokenAgreement).toBeLessThan(1);
    const ppl = await perplexityPair(a, b, texts);
    expect([m.fp32Perplexity, m.int8Perplexity]).toEqual([ppl.fp32, ppl.int8]);
    expect(m.perplexityIncrease).not.toBe(0);
    // Bench's latency rows: time to first token first, then one tokens/s row per batch size.
    expect(s.latency!.map((r) => [r.label, r.batch, r.sequence, r.tokens])).toEqual([
      ['time to first token 1×8', 1, 8, undefined],
      ['tokens/s 1×5', 1, 5, 4],
      ['tokens/s 3×5', 3, 5, 12],
    ]);
    expect(s.latency!.every((r) => r.pairRatios!.flat().length === 4 && r.ratioInterval !== undefined)).toBe(true);
    expect(m.tokensPerSecond.map((r) => [r.batch, r.newTokens])).toEqual([[1, 5], [3, 5]]);
    expect(m.tokensPerSecond[1]!.fp32).toBeCloseTo((12 * 1000) / s.latency![2]!.fp32.p50, 9);
  });
});
