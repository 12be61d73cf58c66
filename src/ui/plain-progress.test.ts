import { describe, expect, it } from 'vitest';
import { PlainProgress } from './plain-progress.ts';

function log() {
  const lines: string[] = [];
  return { lines, progress: new PlainProgress((l) => lines.push(l)) };
}

describe('PlainProgress', () => {
  it('one line per phase, not per batch: a declared phase, or messages that differ only by their n/m counter', () => {
    const { lines, progress } = log();
    for (let b = 1; b <= 47; b++) progress.event('calibrate', { type: 'progress', message: `min/max + histogram (percentile): batch ${b}/47`, done: b, total: 47 });
    for (let s = 1; s <= 3; s++) {
      const phase = `latency 1×${32 * s} (shape ${s}/3)`;
      progress.event('bench', { type: 'progress', message: `${phase}: warm-up`, phase });
      for (let k = 1; k <= 10; k++) progress.event('bench', { type: 'progress', message: `${phase}: block ${k}/10`, done: k, total: 10, phase });
    }
    progress.done('bench (bench) — 14.5s');
    expect(lines).toEqual([
      '  calibrate › min/max + histogram (percentile): batch 1/47',
      '  bench › latency 1×32 (shape 1/3)',
      '  bench › latency 1×64 (shape 2/3)',
      '  bench › latency 1×96 (shape 3/3)',
      '✔ bench (bench) — 14.5s',
    ]);
  });

  it('warnings at once, every one; info logs not at all; the same phase in another step is printed again', () => {
    const { lines, progress } = log();
    progress.event('a', { type: 'log', level: 'warn', message: 'waiting for x.lock held by pid 7' });
    progress.event('a', { type: 'log', level: 'info', message: 'logits: output "logits"' });
    progress.event('a', { type: 'progress', message: 'placing QDQ nodes' });
    progress.event('b', { type: 'progress', message: 'placing QDQ nodes' });
    progress.event('a', { type: 'progress', message: 'placing QDQ nodes' });
    progress.skipped('c (trtexec) — skipped: trtexec not found on PATH');
    progress.failed('d (bench) — failed after 1.0s');
    expect(lines).toEqual(['  a ⚠ waiting for x.lock held by pid 7', '  a › placing QDQ nodes', '  b › placing QDQ nodes', '↓ c (trtexec) — skipped: trtexec not found on PATH', '✖ d (bench) — failed after 1.0s']);
  });
});
