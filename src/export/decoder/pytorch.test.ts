// The native decoder export against PyTorch (transformers 5.17, float32, eager attention, CPU): the
// tiny seeded GPT-2, Llama (GQA, untied head) and Qwen2 (q/k/v biases, tied head) of
// tests/fixtures/decoders/, with the options variants below, and the shipped
// models/gpt-debian (float16 safetensors widened to float32; scripts/make-gpt-model/train_gpt.py).
// For each: the prefill logits, then every greedy decode step fed its cache back, alone and as a
// left-padded batch of 2: max |Δ logit| ≤ 1e-3 of the step's logit scale (max |logit|), as the
// issue asks, and < 2e-5 of it, what float32 against float32 allows; the same argmax at every step.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { encodeModel } from '../../onnx/model-io.ts';
import { createSession } from '../../runtime/session.ts';
import { Checkpoint } from '../../safetensors/index.ts';
import { CheckpointWeights } from '../weight-source.ts';
import { parseDecoderConfig, type DecoderConfig } from './decoder-config.ts';
import { exportDecoder } from './export-decoder.ts';
import { argmax, emptyCache, logitsAt, step, type Cache } from './testing.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURES = join(REPO, 'tests/fixtures/decoders');
const SHIPPED = join(REPO, 'models/gpt-debian');

/** One call of the reference: its feeds and what PyTorch returned at its last `logits[r].length` positions. */
interface RefStep {
  ids: number[][];
  mask: number[][];
  positions: number[][];
  /** [row][last positions][vocab]; absent for a step whose logits were not stored. */
  logits?: number[][][];
  argmax: number[];
}

interface FixtureCase {
  input_ids: number[][];
  attention_mask: number[][];
  position_ids: number[][];
  prefill_logits: number[][][];
  prefill_argmax: number[];
  decode: { input_ids: number[][]; attention_mask: number[][]; position_ids: number[][]; logits: number[][]; argmax: number[] }[];
}

function fixtureSteps(c: FixtureCase): RefStep[] {
  return [
    { ids: c.input_ids, mask: c.attention_mask, positions: c.position_ids, logits: c.prefill_logits, argmax: c.prefill_argmax },
    ...c.decode.map((d) => ({ ids: d.input_ids, mask: d.attention_mask, positions: d.position_ids, logits: d.logits.map((row) => [row]), argmax: d.argmax })),
  ];
}

interface ShippedCase {
  input_ids: number[][];
  attention_mask: number[][];
  position_ids: number[][];
  prefill_logits_last: number[] | number[][];
  prefill_argmax: number | number[];
  decode: { input_ids: number[][]; position_ids: number[][]; logits?: number[] | number[][]; argmax: number | number[] }[];
}

/** models/gpt-debian/reference.json: batch 1 prompts (logits of the last position) and a padded batch; masks grow by a 1 per step. */
function shippedSteps(c: ShippedCase): RefStep[] {
  const batch = c.input_ids.length;
  const logitRows = (v: number[] | number[][]) => (Array.isArray(v[0]) ? (v as number[][]) : [v as number[]]).map((row) => [row]);
  const arg = (v: number | number[]) => (Array.isArray(v) ? v : [v]);
  const mask = c.attention_mask.map((m) => [...m]);
  const steps: RefStep[] = [{ ids: c.input_ids, mask: c.attention_mask, positions: c.position_ids, logits: logitRows(c.prefill_logits_last), argmax: arg(c.prefill_argmax) }];
  for (const d of c.decode) {
    mask.forEach((m) => m.push(1));
    steps.push({ ids: d.input_ids, mask: mask.map((m) => [...m]), positions: d.position_ids, ...(d.logits ? { logits: logitRows(d.logits) } : {}), argmax: arg(d.argmax) });
  }
  expect(steps[0]!.ids).toHaveLength(batch);
  return steps;
}

interface Measured {
  /** Largest |Δ logit| over every compared position. */
  maxAbs: number;
  /** Largest |Δ| / (max |reference logit| of that position). */
  maxRelative: number;
  steps: number;
  argmaxMismatches: string[];
}

async function compare(session: ort.InferenceSession, cfg: DecoderConfig, steps: RefStep[]): Promise<Measured> {
  const m: Measured = { maxAbs: 0, maxRelative: 0, steps: 0, argmaxMismatches: [] };
  let cache: Cache = emptyCache(cfg, steps[0]!.ids.length);
  for (const [k, s] of steps.entries()) {
    const out = await step(session, cfg, s.ids, s.mask, s.positions, cache);
    cache = out.cache;
    const seq = s.ids[0]!.length;
    for (let r = 0; r < s.ids.length; r++) {
      const got = argmax(logitsAt(out, r, seq - 1));
      if (got !== s.argmax[r]) m.argmaxMismatches.push(`step ${k} row ${r}: ${got} ≠ ${s.argmax[r]}`);
      const expected = s.logits?.[r];
      if (!expected) continue;
      for (const [j, ref] of expected.entries()) {
        const ours = logitsAt(out, r, seq - expected.length + j);
        expect(ours.length).toBe(ref.length);
        let scale = 0;
        let diff = 0;
        for (let v = 0; v < ref.length; v++) {
          scale = Math.max(scale, Math.abs(ref[v]!));
          diff = Math.max(diff, Math.abs(ours[v]! - ref[v]!));
        }
        m.maxAbs = Math.max(m.maxAbs, diff);
        m.maxRelative = Math.max(m.maxRelative, diff / scale);
      }
    }
    m.steps++;
  }
  return m;
}

async function sessionFor(dir: string): Promise<{ cfg: DecoderConfig; session: ort.InferenceSession }> {
  const file = join(dir, 'config.json');
  const cfg = parseDecoderConfig(JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>, file);
  const checkpoint = await Checkpoint.open(dir);
  try {
    const { model } = await exportDecoder(cfg, new CheckpointWeights(checkpoint));
    return { cfg, session: await createSession(encodeModel(model), { intraOpThreads: 1 }) };
  } finally {
    await checkpoint.close();
  }
}

function report(name: string, m: Measured): void {
  // The figures the closing note quotes.
  console.log(`${name}: ${m.steps} calls, max |Δ logit| ${m.maxAbs.toExponential(2)}, max |Δ|/scale ${m.maxRelative.toExponential(2)}, argmax mismatches ${m.argmaxMismatches.length}`);
}

// scripts/make-gpt-model/decoder_fixtures.py (G1), then scripts/device/jobs/g2-decoders/make_fixtures.py:
// untied GPT-2 with exact gelu and no score scaling, Llama with every bias and head_dim 16 ≠ 48 / 4,
// llama3 and linear RoPE, Mistral's sliding window 4 over an 11-token prompt.
const FIXTURE_NAMES = ['gpt2-tiny', 'llama-tiny', 'qwen2-tiny', 'gpt2-untied-tiny', 'llama-bias-tiny', 'llama-rope3-tiny', 'llama-linear-tiny', 'mistral-window-tiny'];

describe('native decoder export against PyTorch', () => {
  it.each(FIXTURE_NAMES)('%s: prefill + 4 greedy decode steps, alone and left-padded in a batch of 2, within 1e-3 of the logit scale, same argmax', async (name) => {
    const dir = join(FIXTURES, name);
    const reference = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as FixtureCase & { batch: FixtureCase };
    const { cfg, session } = await sessionFor(dir);
    try {
      for (const [label, c] of [['alone', reference], ['batch', reference.batch]] as const) {
        const m = await compare(session, cfg, fixtureSteps(c));
        report(`${name} ${label}`, m);
        expect(m.steps).toBe(5);
        expect(m.argmaxMismatches).toEqual([]);
        expect(m.maxRelative).toBeLessThanOrEqual(1e-3);
        // float32 against float32: measured ≤ 4.4e-6 of the scale (x86-64, onnxruntime 1.30); 2e-5
        // leaves room for other kernels' summation order and still catches an attention scale off by
        // 1% (6e-5 on gpt-debian, which the 1e-3 bound lets through), a RoPE base or an epsilon.
        expect(m.maxRelative).toBeLessThan(2e-5);
      }
    } finally {
      await session.release();
    }
  });

  it('models/gpt-debian (float16 weights widened): every reference prompt and the left-padded batch within 1e-3 of the logit scale, same greedy tokens', async () => {
    expect(existsSync(join(SHIPPED, 'reference.json'))).toBe(true);
    const reference = JSON.parse(readFileSync(join(SHIPPED, 'reference.json'), 'utf8')) as { prompts: ShippedCase[]; batch: ShippedCase };
    const { cfg, session } = await sessionFor(SHIPPED);
    try {
      expect(reference.prompts.length).toBeGreaterThan(0);
      for (const [label, c] of [...reference.prompts.map((p, i) => [`prompt ${i}`, p] as const), ['batch', reference.batch] as const]) {
        const m = await compare(session, cfg, shippedSteps(c));
        report(`gpt-debian ${label}`, m);
        expect(m.argmaxMismatches).toEqual([]);
        expect(m.maxRelative).toBeLessThanOrEqual(1e-3);
        // float32 against float32: measured ≤ 4.4e-6 of the scale (x86-64, onnxruntime 1.30); 2e-5
        // leaves room for other kernels' summation order and still catches an attention scale off by
        // 1% (6e-5 on gpt-debian, which the 1e-3 bound lets through), a RoPE base or an epsilon.
        expect(m.maxRelative).toBeLessThan(2e-5);
      }
    } finally {
      await session.release();
    }
  });
});
