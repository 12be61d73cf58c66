// bench's evaluation of a decoder: the quantized model (bench's candidate: INT8 or INT4 weights)
// against FP32 on the evaluation texts —
//   - perplexity of both on the texts (perplexity.ts, the reference's definition) and how close the
//     next-token logits are;
//   - greedy continuations of each prompt (a text's first promptTokens ids) with the KV cache
//     (generate.ts), newTokens of them, and their agreement (agreement.ts);
//   - time to first token (batch 1) and decoding tokens/s at each batch size, FP32 and quantized
//     runs interleaved in blocks as bench times encoders (plugins/bench/latency.ts), so each ratio
//     has its 95% block-bootstrap interval. They are returned as bench's latency rows (the report,
//     compare and the matrix read them there) and as tokensPerSecond / timeToFirstToken.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type ort from 'onnxruntime-node';
import { blockSizes, latencyRow } from '../../../plugins/bench/latency.ts';
import type { LatencyRow } from '../../engine/metric-shapes.ts';
import { loadTokenizer } from '../../data/tokenizer.ts';
import type { TaskEvaluation, TaskScores } from '../task.ts';
import { setAgreement } from './agreement.ts';
import { isGenerationDataset } from './data.ts';
import { textGenerationErrors } from './errors.ts';
import { decoderIo, generate, type DecoderIo } from './generate.ts';
import { perplexityPair } from './perplexity.ts';
import { withGenerationDefaults, type GenerationSettings } from './settings.ts';

type Model = 'fp32' | 'int8';
type Blocks = { fp32: number[]; int8: number[] }[];

export interface TimingPlan {
  warmup: number;
  iterations: number;
  blocks: number;
  signal?: AbortSignal;
  onBlock?: (done: number, total: number) => void;
}

/**
 * Interleaved pairs in blocks, as plugins/bench/latency.ts's timeInterleavedBlocks, for a run that
 * measures several phases itself (prefill and decode of one generation): `run` returns each phase's
 * milliseconds, and every phase gets its own blocks of pairs.
 */
export async function timePhases<P extends string>(phases: readonly P[], run: (model: Model) => Promise<Record<P, number>>, plan: TimingPlan): Promise<Record<P, Blocks>> {
  for (let i = 0; i < plan.warmup; i++) {
    await run('fp32');
    await run('int8');
  }
  const out = Object.fromEntries(phases.map((p) => [p, [] as Blocks])) as Record<P, Blocks>;
  const sizes = blockSizes(plan.iterations, plan.blocks);
  plan.onBlock?.(0, sizes.length);
  let pair = 0;
  for (const size of sizes) {
    const block = Object.fromEntries(phases.map((p) => [p, { fp32: [] as number[], int8: [] as number[] }])) as Record<P, { fp32: number[]; int8: number[] }>;
    for (let i = 0; i < size; i++, pair++) {
      if (plan.signal?.aborted) throw new Error('interrupted');
      const order: Model[] = pair % 2 === 0 ? ['fp32', 'int8'] : ['int8', 'fp32'];
      for (const m of order) {
        const t = await run(m);
        for (const p of phases) block[p][m].push(t[p]);
      }
    }
    for (const p of phases) out[p].push(block[p]);
    plan.onBlock?.(sizes.length === 0 ? 0 : out[phases[0]!].length, sizes.length);
  }
  return out;
}

/** Prompts for the agreement and the timing: the first `promptTokens` ids of each text longer than that. */
export function promptsOf(texts: number[][], promptTokens: number): number[][] {
  return texts.filter((ids) => ids.length > promptTokens).map((ids) => ids.slice(0, promptTokens));
}

/** tokens/s of a latency row made by this evaluation: its tokens per run ÷ the median run. */
export function tokensPerSecond(row: LatencyRow, model: Model): number {
  return ((row.tokens ?? 0) * 1000) / row[model].p50;
}

export async function evaluateTextGeneration(run: TaskEvaluation): Promise<TaskScores> {
  const dataset = run.dataset;
  const name = dataset?.name ?? 'evaluation';
  if (!isGenerationDataset(dataset)) throw textGenerationErrors.noTexts(name);
  const settings: GenerationSettings = withGenerationDefaults(run.generation);
  const fp32 = { session: run.fp32, io: decoderIo(run.fp32, 'the FP32 model') };
  const int8 = { session: run.int8, io: decoderIo(run.int8, 'the quantized model') };
  const texts = dataset.samples.slice(0, run.fp32Batches.samples).map((s) => s.ids);
  // A generation of N tokens feeds the prompt and N − 1 of them: past the model's positions GPT-2's
  // position table has no row (onnxruntime's Gather fails mid-bench) and RoPE runs outside what the
  // model was trained on. Checked before any pass, with the options to change.
  for (const option of ['newTokens', 'timedTokens'] as const) {
    if (settings.promptTokens + settings[option] - 1 > dataset.maxLength) throw textGenerationErrors.beyondPositions(name, option, settings.promptTokens, settings[option], dataset.maxLength);
  }

  // Perplexity and logit closeness, one full pass per text and model.
  const ppl = await perplexityPair(fp32, int8, texts, (done, total) => run.progress(`perplexity: text ${done}/${total}`, done, total), run.signal);

  // Greedy continuations, batch 1, newTokens each, whatever token comes (eos included): the
  // reference's greedy ids are taken the same way.
  const allPrompts = promptsOf(texts, settings.promptTokens);
  if (allPrompts.length === 0) throw textGenerationErrors.promptsTooShort(name, settings.promptTokens, Math.max(0, ...texts.map((t) => t.length)));
  const prompts = settings.prompts > 0 ? allPrompts.slice(0, settings.prompts) : allPrompts;
  const continuations: Record<Model, number[][]> = { fp32: [], int8: [] };
  for (const [k, prompt] of prompts.entries()) {
    for (const [m, s] of [['fp32', fp32], ['int8', int8]] as const) {
      continuations[m].push((await generate(s.session, s.io, [prompt], { newTokens: settings.newTokens, padId: dataset.padId, signal: run.signal })).tokens[0]!);
    }
    run.progress(`generation: prompt ${k + 1}/${prompts.length}`, k + 1, prompts.length);
  }
  const agreement = setAgreement(continuations.fp32, continuations.int8, settings.newTokens);

  // Timing: batch 1 gives the time to first token too; each batch size its decoding tokens/s.
  const latency: LatencyRow[] = [];
  const timing = run.timing ?? { warmup: 2, iterations: 10, blocks: 5 };
  for (const [k, batch] of settings.batchSizes.entries()) {
    const rows = Array.from({ length: batch }, (_, b) => allPrompts[b % allPrompts.length]!);
    const sessions: Record<Model, { session: ort.InferenceSession; io: DecoderIo }> = { fp32, int8 };
    const phase = `generation timing, batch ${batch} (${k + 1}/${settings.batchSizes.length})`;
    const blocks = await timePhases(
      ['first', 'decode'] as const,
      async (m) => {
        const g = await generate(sessions[m].session, sessions[m].io, rows, { newTokens: settings.timedTokens, padId: dataset.padId, signal: run.signal });
        return { first: g.firstTokenMs, decode: g.stepMs.reduce((a, b) => a + b, 0) };
      },
      { ...timing, signal: run.signal, onBlock: (done, total) => run.progress(`${phase}: ${done === 0 ? 'warm-up' : `block ${done}/${total}`}`, done, total) },
    );
    if (batch === 1) latency.unshift({ ...latencyRow({ batch: 1, sequence: settings.promptTokens }, blocks.first), label: `time to first token 1×${settings.promptTokens}` });
    latency.push({ ...latencyRow({ batch, sequence: settings.timedTokens }, blocks.decode), label: `tokens/s ${batch}×${settings.timedTokens}`, tokens: batch * (settings.timedTokens - 1) });
  }
  const rates = latency.filter((r) => r.tokens !== undefined);
  const ttft = latency.find((r) => r.tokens === undefined);

  const tokenizer = run.hfDir && existsSync(join(run.hfDir, 'tokenizer.json')) ? await loadTokenizer(join(run.hfDir, 'tokenizer.json')) : undefined;
  const decode = (ids: number[]) => tokenizer?.library.tokenizer.decode(ids) ?? ids.join(' ');
  const metrics = {
    prompts: prompts.length,
    promptTokens: settings.promptTokens,
    newTokens: settings.newTokens,
    perplexityTexts: ppl.texts,
    perplexityTokens: ppl.tokens,
    fp32Perplexity: ppl.fp32,
    int8Perplexity: ppl.int8,
    perplexityIncrease: ppl.int8 / ppl.fp32 - 1,
    tokenAgreement: agreement.tokenAgreement,
    exactMatch: agreement.exactMatch,
    firstDivergence: agreement.firstDivergence,
    examples: prompts.slice(0, 3).map((p, k) => ({ prompt: decode(p), fp32: decode(continuations.fp32[k]!), int8: decode(continuations.int8[k]!) })),
    ...(ttft ? { timeToFirstToken: { promptTokens: settings.promptTokens, fp32: ttft.fp32.p50, int8: ttft.int8.p50, ratio: ttft.ratio } } : {}),
    tokensPerSecond: rates.map((r) => ({
      batch: r.batch,
      newTokens: r.sequence,
      fp32: tokensPerSecond(r, 'fp32'),
      int8: tokensPerSecond(r, 'int8'),
      speedup: r.speedup,
      low: r.ratioInterval ? 1 / r.ratioInterval.high : null,
      high: r.ratioInterval ? 1 / r.ratioInterval.low : null,
    })),
    meanCosine: ppl.meanCosine,
    minCosine: ppl.minCosine,
    maxAbsError: ppl.maxAbsError,
    output: fp32.io.logits,
  };
  return {
    metrics,
    headline: { agreement: agreement.tokenAgreement, fp32Accuracy: null, int8Accuracy: null, meanCosine: ppl.meanCosine, minCosine: ppl.minCosine, maxAbsError: ppl.maxAbsError },
    latency,
  };
}
