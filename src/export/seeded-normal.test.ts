// The random weights' bytes are part of every `weights: random` artifact: the same recipe must give
// the same bytes whichever thread made them, and the same as before the sampler was split in two.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { normalWorkerHeld, seededNormal, seededNormalParallel } from './seeded-normal.ts';

const digest = (a: Float32Array) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');

describe('seeded normal samples', () => {
  it('are the bytes the one-thread sampler of qrun 0.1 made (onnx.export random weights unchanged)', () => {
    // Digests of the original implementation's output (mulberry32 object + separate nfix function).
    expect(digest(seededNormal(1, 'w', 100_001, 0.02))).toBe('b5f32ced5b55ff44a68101b0c411683881ccbcb5e2a321a1c20942e873da3028');
    expect(digest(seededNormal(3, 'tails', 400_000, 1))).toBe('aa6f38fd5590c6cc8837fe836fc01fbcdcbee0e7d53951cd0e6dba443eda051d');
  });

  it('made by two threads are the one-thread bytes, whether the worker’s samples are used or this thread makes them all', async () => {
    const seen: string[] = [];
    const onSplit = (how: string) => seen.push(how);
    // BERT-base's word embeddings: 23 M samples, the worker's parse meets this thread's.
    const table = await seededNormalParallel(1, 'bert.embeddings.word_embeddings.weight', 30522 * 768, 0.02, { onSplit });
    expect(digest(table)).toBe('66df5ccc1d74e242370e24ed6cae7a3fa21d10d60a43a3efd585a76000684ecf');
    for (const [count, window] of [
      [2 ** 20 + 1, undefined], // odd count
      [3 * 2 ** 20, undefined],
      [2 ** 21, 1], // a window of one draw at the expected start: sample 2^20 begins elsewhere, this thread makes the rest
      [2 ** 21, 40], // a window of 40 draws, still too narrow: the same
    ] as const) {
      const name = `t${count}-${window}`;
      expect(digest(await seededNormalParallel(7, name, count, 0.5, { window, onSplit })), name).toBe(digest(seededNormal(7, name, count, 0.5)));
    }
    expect(seen).toEqual(['two threads', 'two threads', 'two threads', 'worker unused', 'worker unused']);
    expect(digest(await seededNormalParallel(2, 'small', 1000, 1, { onSplit }))).toBe(digest(seededNormal(2, 'small', 1000, 1)));
    expect(seen.at(-1)).toBe('one thread');
  });

  it('after a second without tensors the worker is let go, and the next call starts another (same bytes)', async () => {
    const seen: string[] = [];
    const a = await seededNormalParallel(4, 'before', 2 ** 20, 0.02, { onSplit: (h) => seen.push(h) });
    expect(normalWorkerHeld()).toBe(true);
    await new Promise((r) => setTimeout(r, 1200));
    expect(normalWorkerHeld()).toBe(false);
    const b = await seededNormalParallel(4, 'after', 2 ** 20, 0.02, { onSplit: (h) => seen.push(h) });
    expect(normalWorkerHeld()).toBe(true);
    expect(seen).toEqual(['two threads', 'two threads']);
    expect(digest(a)).toBe(digest(seededNormal(4, 'before', 2 ** 20, 0.02)));
    expect(digest(b)).toBe(digest(seededNormal(4, 'after', 2 ** 20, 0.02)));
  });

  it('made by calls that overlap (the worker’s shared buffer taken by one) are each the one-thread bytes', async () => {
    const names = ['q', 'k', 'v'];
    const made = await Promise.all(names.map((n) => seededNormalParallel(5, n, 2 ** 20 + 3, 0.02)));
    made.forEach((m, i) => expect(digest(m), names[i]).toBe(digest(seededNormal(5, names[i]!, 2 ** 20 + 3, 0.02))));
  });
});
