// Deterministic normal samples for `weights: random`: mulberry32 (a 32-bit PRNG with a full period,
// https://gist.github.com/tommyettinger/46a874533244883189143505d203312c) feeding Box-Muller.
// Each tensor gets its own stream, seeded from (seed, tensor name), so a weight's values do not
// depend on the order in which the family code asks for tensors.

/** FNV-1a 32-bit hash of a string: the per-tensor part of the seed. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Uniform numbers in [0, 1) from mulberry32. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` samples of normal(0, std), seeded by (seed, name). */
export function seededNormal(seed: number, name: string, count: number, std: number): Float32Array {
  const next = mulberry32((seed ^ fnv1a(name)) >>> 0);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    // Box-Muller: two uniforms → two independent normals; 1 - u keeps log() away from 0.
    const r = Math.sqrt(-2 * Math.log(1 - next())) * std;
    const theta = 2 * Math.PI * next();
    out[i] = r * Math.cos(theta);
    if (i + 1 < count) out[i + 1] = r * Math.sin(theta);
  }
  return out;
}
