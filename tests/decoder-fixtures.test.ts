// The decoder fixtures (tests/fixtures/decoders, made by scripts/make-gpt-model/decoder_fixtures.py
// with transformers' own classes): each reference.json must fit its config.json and be one greedy
// chain with HF's left-padding position ids, or an exporter checked against it is checked against
// a wrong target.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './helpers/cli.ts';

const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8'));

describe('decoder fixtures (tests/fixtures/decoders)', () => {
  for (const name of ['gpt2-tiny', 'llama-tiny', 'qwen2-tiny']) {
    it(`${name}: reference.json matches its config and is one greedy chain`, () => {
      const dir = join(REPO, 'tests/fixtures/decoders', name);
      const config = readJson(join(dir, 'config.json'));
      const ref = readJson(join(dir, 'reference.json'));
      for (const [c, rows] of [[ref, 1], [ref.batch, 2]] as const) {
        expect(c.input_ids.length).toBe(rows);
        expect(c.prefill_logits.length).toBe(rows);
        for (const r of c.prefill_logits) {
          expect(r.length).toBe(2);
          for (const v of r) expect(v.length).toBe(config.vocab_size);
        }
        // HF position ids on left padding: cumsum(mask) - 1, pads set to 1
        c.attention_mask.forEach((m: number[], i: number) => {
          let seen = 0;
          expect(c.position_ids[i]).toEqual(m.map((x) => (x ? seen++ : 1)));
        });
        let prev = c.prefill_argmax as number[];
        for (const step of c.decode) {
          expect(step.input_ids).toEqual(prev.map((t) => [t]));
          const argmax = step.logits.map((l: number[]) => l.indexOf(Math.max(...l)));
          expect(step.argmax).toEqual(argmax);
          prev = step.argmax;
        }
        expect(c.check_max_abs_diff_cache_vs_full).toBeLessThan(1e-4);
      }
    });
  }
});
