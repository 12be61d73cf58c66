// Deterministic normal samples for `weights: random`: mulberry32 (a 32-bit PRNG with a full period,
// https://gist.github.com/tommyettinger/46a874533244883189143505d203312c) feeding the ziggurat method
// of G. Marsaglia and W. W. Tsang, "The Ziggurat Method for Generating Random Variables", Journal of
// Statistical Software 5(8), 2000 (128 layers, their RNOR/nfix). About 98.8 % of samples cost one
// 32-bit draw, a table lookup and a multiply; Box–Muller's log, sqrt, cos and sin per pair took 4.4 s
// of the 5.2 s that building a BERT-base (110 M weights) took, the ziggurat ~0.5 s.
// Each tensor gets its own stream, seeded from (seed, tensor name), so a weight's values do not
// depend on the order in which the family code asks for tensors.
import { Worker } from 'node:worker_threads';

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

  /** A signed 32-bit integer. */
  int(): number {
    const a = (this.a = (this.a + 0x6d2b79f5) | 0);
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return t ^ (t >>> 14);
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

/** The stream's state before draw `d` of the stream seeded `seed`: mulberry32's state is a counter. */
const stateBefore = (seed: number, d: number) => (seed + Math.imul(d, 0x6d2b79f5)) | 0;

const streamSeed = (seed: number, name: string) => (seed ^ fnv1a(name)) >>> 0;

// ---- the sampler -------------------------------------------------------------------------------
// zigguratRun and mulberryNext also run in a worker thread, from their source text (Function.prototype
// .toString): they refer to nothing outside their parameters and Math, and hold no nested functions
// (esbuild would add a name helper inside), so the text runs as it is in the bundle, under tsx and in
// the worker.

/** One mulberry32 draw for the slow path: state in st[0], draws counted in st[1]. */
function mulberryNext(st: Int32Array): number {
  const a = (st[0] = (st[0]! + 0x6d2b79f5) | 0);
  st[1]!++;
  let t = Math.imul(a ^ (a >>> 15), a | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return t ^ (t >>> 14);
}

/**
 * Samples out[from..to) of normal(0, std) by the ziggurat (128 layers, Marsaglia and Tsang's RNOR
 * and nfix), from the mulberry32 stream whose state is `a` before the first draw. Returns the number
 * of draws taken (about 98.8 % of samples take one: a table lookup and a multiply). With `starts`,
 * starts[d] is set to the index (from `from`) of the sample that begins at draw d, for d < starts.length.
 */
function zigguratRun(a: number, out: Float32Array, from: number, to: number, std: number, kn: Float64Array, wn: Float64Array, fn: Float64Array, r: number, starts: Int32Array, mulberryNext: (st: Int32Array) => number): number {
  const st = new Int32Array(2);
  const window = starts.length;
  let d = 0;
  for (let i = from; i < to; i++) {
    if (d < window) starts[d] = i - from;
    a = (a + 0x6d2b79f5) | 0;
    d++;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    let hz = t ^ (t >>> 14);
    let iz = hz & 127;
    // Fast path: the sample lies inside the rectangle of layer iz.
    if (Math.abs(hz) < kn[iz]!) {
      out[i] = hz * wn[iz]! * std;
      continue;
    }
    // nfix: the wedge or the tail, with more draws.
    st[0] = a;
    st[1] = 0;
    let x = 0;
    for (;;) {
      x = hz * wn[iz]!;
      if (iz === 0) {
        // The tail beyond r, by Marsaglia's method for the normal tail.
        let y = 0;
        do {
          x = -Math.log(((mulberryNext(st) >>> 0) + 1) / 4294967296) / r;
          y = -Math.log(((mulberryNext(st) >>> 0) + 1) / 4294967296);
        } while (y + y < x * x);
        x = hz > 0 ? r + x : -r - x;
        break;
      }
      if (fn[iz]! + (((mulberryNext(st) >>> 0) + 1) / 4294967296) * (fn[iz - 1]! - fn[iz]!) < Math.exp(-0.5 * x * x)) break;
      hz = mulberryNext(st);
      iz = hz & 127;
      if (Math.abs(hz) < kn[iz]!) {
        x = hz * wn[iz]!;
        break;
      }
    }
    a = st[0]!;
    d += st[1]!;
    out[i] = x * std;
  }
  return d;
}

const NO_STARTS = new Int32Array(0);

/** `count` samples of normal(0, std), seeded by (seed, name). */
export function seededNormal(seed: number, name: string, count: number, std: number): Float32Array {
  const out = new Float32Array(count);
  zigguratRun(streamSeed(seed, name), out, 0, count, std, ZIG.kn, ZIG.wn, ZIG.fn, ZIG.r, NO_STARTS, mulberryNext);
  return out;
}

// ---- two threads -------------------------------------------------------------------------------
// One tensor's samples split between this thread and a worker: this thread makes the first half from
// draw 0; the worker the rest from draw `half`, a guess at where sample `half` begins (each sample
// takes at least one draw, so the true start E is at or after it). The worker's parse from `half`
// is a valid parse of the same draws, and a sample depends only on the draws from its start: once the
// worker's parse has a sample beginning at E, its samples from there on are the true ones. It marks
// where each of its samples begins over the first `window` draws; when E is one of them (the parses
// meet within a few draws: only ~1.2 % of samples take more than one), its samples are copied in, else
// this thread makes the rest itself. Either way the bytes are seededNormal's, whatever the split.

/** Below this many samples a tensor is made on this thread (the hand-over costs more than it saves). */
const PARALLEL_MIN = 1 << 18;
/** Draws per sample beyond the first, on average (the wedges' and the tail's extra draws). */
const EXTRA_DRAWS = 0.041;

interface Job {
  id: number;
  a: number;
  count: number;
  window: number;
  std: number;
  /** Where the worker writes its samples (shared memory, reused from tensor to tensor). */
  out: SharedArrayBuffer;
}
interface Done {
  id: number;
  starts: Int32Array;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const mulberryNext = ${mulberryNext.toString()};
const zigguratRun = ${zigguratRun.toString()};
const { kn, wn, fn, r } = workerData;
parentPort.on('message', (job) => {
  const out = new Float32Array(job.out, 0, job.count);
  const starts = new Int32Array(job.window).fill(-1);
  zigguratRun(job.a, out, 0, job.count, job.std, kn, wn, fn, r, starts, mulberryNext);
  parentPort.postMessage({ id: job.id, starts }, [starts.buffer]);
});
`;

let worker: { post(job: Omit<Job, 'id'>): Promise<Done>; close(): void } | undefined;

/**
 * The worker and its buffer are let go once no tensor has come for a while: the export is over, and
 * the 47 MB buffer and the worker's heap would otherwise stay through calibration, where the
 * pipeline's memory peaks. The next call starts a new one (~50 ms).
 */
const IDLE_MS = 1000;
/** Whether the worker (and its buffer) are held now. */
export const normalWorkerHeld = (): boolean => worker !== undefined || scratch !== undefined;
let idleTimer: NodeJS.Timeout | undefined;
let inFlight = 0;
function releaseWhenIdle(): void {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    if (inFlight > 0) return;
    scratch = undefined;
    worker?.close();
    worker = undefined;
  }, IDLE_MS);
  idleTimer.unref();
}

/**
 * The worker's output, kept for the next tensor: a fresh buffer per tensor was 220 MB of new pages
 * (page faults, and garbage collections set off by external memory) for BERT-base. A call made while
 * another is using it gets a buffer of its own. (Handing one ArrayBuffer back and forth by transfer
 * instead measured 0.4 s more CPU over BERT-base's tensors: each arrival counts as new external
 * memory in the receiving thread and sets off collections.)
 */
let scratch: SharedArrayBuffer | undefined;
let scratchBusy = false;

function takeScratch(bytes: number): { buffer: SharedArrayBuffer; release: () => void } {
  if (scratchBusy) return { buffer: new SharedArrayBuffer(bytes), release: () => undefined };
  if (!scratch || scratch.byteLength < bytes) scratch = new SharedArrayBuffer(bytes);
  scratchBusy = true;
  return { buffer: scratch, release: () => (scratchBusy = false) };
}

function normalWorker() {
  if (worker) return worker;
  const pending = new Map<number, { resolve: (d: Done) => void; reject: (e: unknown) => void }>();
  let next = 0;
  let failed: unknown;
  const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { kn: ZIG.kn, wn: ZIG.wn, fn: ZIG.fn, r: ZIG.r } });
  // It keeps the process alive only while it has work (a 'message' listener refs it: unref after).
  const settle = (id: number) => {
    pending.delete(id);
    if (pending.size === 0) w.unref();
  };
  w.on('message', (d: Done) => {
    pending.get(d.id)?.resolve(d);
    settle(d.id);
  });
  const fail = (e: unknown) => {
    failed = e;
    for (const [id, p] of pending) {
      p.reject(e);
      settle(id);
    }
  };
  w.on('error', fail);
  w.on('exit', (code) => fail(new Error(`the random-weights worker exited (${code})`)));
  w.unref();
  worker = {
    close: () => void w.terminate(),
    post(job) {
      if (failed) return Promise.reject(failed);
      const id = next++;
      return new Promise<Done>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        w.ref();
        w.postMessage({ ...job, id });
      });
    },
  };
  return worker;
}

/**
 * seededNormal's samples, byte for byte, made by this thread and a worker thread together (about
 * half the time on two free cores). Small tensors, or no worker (it failed to start), take the
 * one-thread path.
 */
export async function seededNormalParallel(
  seed: number,
  name: string,
  count: number,
  std: number,
  opts: { window?: number; onSplit?: (how: 'one thread' | 'two threads' | 'worker unused') => void } = {},
): Promise<Float32Array> {
  if (count < PARALLEL_MIN) {
    opts.onSplit?.('one thread');
    return seededNormal(seed, name, count, std);
  }
  const s = streamSeed(seed, name);
  const half = count >> 1;
  // Sample `half` begins after the draws of the samples before it: 4.10 % more than their number
  // (measured: 0.04096 ± 0.0002 over 4 M samples; variance ~0.08 per sample). The worker starts
  // `window / 2` draws before that guess, marks sample starts over `window` draws (8 standard
  // deviations each side and 1024 more), and makes as many samples more than the second half.
  const window = opts.window ?? 2 * (Math.ceil(8 * Math.sqrt(0.08 * half)) + 1024);
  const from = half + Math.max(0, Math.round(EXTRA_DRAWS * half) - (window >> 1));
  const made = count - half + window;
  const shared = takeScratch(made * 4);
  inFlight++;
  try {
    let job: Promise<Done> | undefined;
    try {
      job = normalWorker().post({ a: stateBefore(s, from), count: made, window, std, out: shared.buffer });
    } catch {
      job = undefined;
    }
    const out = new Float32Array(count);
    const used = zigguratRun(s, out, 0, half, std, ZIG.kn, ZIG.wn, ZIG.fn, ZIG.r, NO_STARTS, mulberryNext);
    const done = await job?.catch(() => undefined);
    const k = done && used >= from && used - from < window ? done.starts[used - from]! : -1;
    opts.onSplit?.(k >= 0 ? 'two threads' : 'worker unused');
    if (done && k >= 0) out.set(new Float32Array(shared.buffer, k * 4, count - half), half);
    else zigguratRun(stateBefore(s, used), out, half, count, std, ZIG.kn, ZIG.wn, ZIG.fn, ZIG.r, NO_STARTS, mulberryNext);
    return out;
  } finally {
    // Released only once the worker is done with it (or failed: then it is never touched again).
    shared.release();
    inFlight--;
    releaseWhenIdle();
  }
}
