// Deterministic normal samples for `weights: random`: mulberry32 (a 32-bit PRNG with a full period,
// https://gist.github.com/tommyettinger/46a874533244883189143505d203312c) feeding the ziggurat method
// of G. Marsaglia and W. W. Tsang, "The Ziggurat Method for Generating Random Variables", Journal of
// Statistical Software 5(8), 2000 (128 layers, their RNOR/nfix). About 98.8 % of samples cost one
// 32-bit draw, a table lookup and a multiply; Box–Muller's log, sqrt, cos and sin per pair took 4.4 s
// of the 5.2 s that building a BERT-base (110 M weights) took, the ziggurat ~0.5 s.
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

/**
 * mulberry32's 32-bit outputs. The state is kept as a signed 32-bit integer, so V8 never boxes it
 * (an unsigned state above 2^31 is a heap number and made each draw several times slower).
 */
class Mulberry32 {
  private a: number;

  constructor(seed: number) {
    this.a = seed | 0;
  }

  /** A signed 32-bit integer (the ziggurat reads sign, layer and magnitude from one draw). */
  int(): number {
    const a = (this.a = (this.a + 0x6d2b79f5) | 0);
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return t ^ (t >>> 14);
  }

  /** Uniform in (0, 1]: log() never sees 0. */
  uniform(): number {
    return ((this.int() >>> 0) + 1) / 4294967296;
  }
}

/** Uniform numbers in [0, 1) from mulberry32. */
export function mulberry32(seed: number): () => number {
  const rng = new Mulberry32(seed);
  return () => (rng.int() >>> 0) / 4294967296;
}

/** The 128-layer tables of Marsaglia and Tsang's `zigset` for the normal density. */
const ZIG = (() => {
  const m1 = 2147483648;
  const vn = 9.91256303526217e-3; // area of each layer
  let dn = 3.442619855899; // start of the right tail
  let tn = dn;
  const kn = new Float64Array(128);
  const wn = new Float64Array(128);
  const fn = new Float64Array(128);
  const q = vn / Math.exp(-0.5 * dn * dn);
  kn[0] = (dn / q) * m1;
  kn[1] = 0;
  wn[0] = q / m1;
  wn[127] = dn / m1;
  fn[0] = 1;
  fn[127] = Math.exp(-0.5 * dn * dn);
  for (let i = 126; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(vn / dn + Math.exp(-0.5 * dn * dn)));
    kn[i + 1] = (dn / tn) * m1;
    tn = dn;
    fn[i] = Math.exp(-0.5 * dn * dn);
    wn[i] = dn / m1;
  }
  return { kn, wn, fn, r: 3.442619855899 };
})();

/** `count` samples of normal(0, std), seeded by (seed, name). */
export function seededNormal(seed: number, name: string, count: number, std: number): Float32Array {
  const rng = new Mulberry32((seed ^ fnv1a(name)) >>> 0);
  const { kn, wn } = ZIG;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const hz = rng.int();
    const iz = hz & 127;
    // Fast path: the sample lies inside the rectangle of layer iz; else the wedge or the tail.
    out[i] = (Math.abs(hz) < kn[iz]! ? hz * wn[iz]! : zigguratFix(rng, hz)) * std;
  }
  return out;
}

/** Marsaglia and Tsang's nfix: a sample outside layer iz's rectangle (wedge or tail). */
function zigguratFix(rng: Mulberry32, first: number): number {
  const { kn, wn, fn, r } = ZIG;
  let hz = first;
  let iz = hz & 127;
  for (;;) {
    let x = hz * wn[iz]!;
    if (iz === 0) {
      // The tail beyond r, by Marsaglia's method for the normal tail.
      let y: number;
      do {
        x = -Math.log(rng.uniform()) / r;
        y = -Math.log(rng.uniform());
      } while (y + y < x * x);
      return hz > 0 ? r + x : -r - x;
    }
    if (fn[iz]! + rng.uniform() * (fn[iz - 1]! - fn[iz]!) < Math.exp(-0.5 * x * x)) return x;
    hz = rng.int();
    iz = hz & 127;
    if (Math.abs(hz) < kn[iz]!) return hz * wn[iz]!;
  }
}
