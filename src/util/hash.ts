import { createHash, type Hash } from 'node:crypto';
import type { BigIntStats, Stats } from 'node:fs';
import { lstat, open, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { errors } from '../errors.ts';

/** JSON with object keys sorted at every level: the stable text behind every cache key and hash. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Read in 4 MiB chunks: with the stream's default 64 KiB, per-chunk overhead made hashing ~3× slower
 * (1 GB: 3.0 s against 1.0 s on this machine), and every step's outputs are hashed, a multi-GB
 * model's external data included. Two buffers for the whole file, reused: the next chunk is read
 * while this one is hashed, and no 4 MiB buffer is allocated per chunk (a fresh one per chunk cost
 * BERT-base's pipeline ~0.2 s of page faults plus the garbage collections its external memory set off).
 */
const HASH_CHUNK = 4 * 2 ** 20;

/**
 * Digests of files this process wrote and hashed on the way out (writeModelFile hashes each chunk
 * while the chunk is being written), keyed by device and inode, with the file's size, mtime and ctime
 * right after it was closed. sha256File returns the remembered digest only while all of them still
 * match: a write of any kind changes ctime, and userland cannot set ctime back. Only a change in the
 * same timestamp tick (4 ms here) as the stat taken when remembering could keep ctime, and Linux 6.13+
 * (multigrain timestamps: after a stat has seen a ctime, the next change gets a finer one) rules that
 * out too. So the engine hashing a step's outputs does not read back the bytes just written:
 * BERT-base's pipeline wrote, then read and hashed, 1.3 GB.
 */
const writtenDigests = new Map<string, { sha256: string; size: bigint; mtimeNs: bigint; ctimeNs: bigint }>();
const fileId = (st: BigIntStats) => `${st.dev}:${st.ino}`;

/** Records `sha256` as the digest of `file` as it is now (call it after the file is closed). */
export async function rememberDigest(file: string, sha256: string): Promise<void> {
  const st = await stat(file, { bigint: true });
  writtenDigests.set(fileId(st), { sha256, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs });
}

/**
 * Runs `copy` (which copies `from` to `to`) and, when `from`'s remembered digest held before and
 * still holds after it (the source did not change meanwhile), remembers it for `to`: a copy of
 * bytes whose digest is known is not read back to be digested (deliverables copy the final model).
 */
export async function copyRemembering(from: string, to: string, copy: () => Promise<void>): Promise<void> {
  const before = await stat(from, { bigint: true });
  const known = rememberedDigest(before);
  await copy();
  if (!known) return;
  const after = await stat(from, { bigint: true });
  if (fileId(after) === fileId(before) && rememberedDigest(after) === known) await rememberDigest(to, known);
}

/** The digest remembered for `file` (rememberDigest), while the file is as it was then; else undefined. */
export async function knownDigest(file: string): Promise<string | undefined> {
  return rememberedDigest(await stat(file, { bigint: true }));
}

function rememberedDigest(st: BigIntStats): string | undefined {
  const known = writtenDigests.get(fileId(st));
  if (!known) return undefined;
  if (known.size === st.size && known.mtimeNs === st.mtimeNs && known.ctimeNs === st.ctimeNs) return known.sha256;
  writtenDigests.delete(fileId(st));
  return undefined;
}

/**
 * A sha256 fed with a file's bytes in the order they are written (position by position, nothing
 * skipped): its digest is the file's, for rememberDigest. `at` is the position of the next byte.
 */
export class WriteHash {
  private readonly hash: Hash = createHash('sha256');
  at = 0;

  update(bytes: Uint8Array, position: number): void {
    if (position !== this.at) throw new Error(`bytes written at ${position}, expected ${this.at}: a file is hashed as it is written only when written in order; this is a bug in qrun`);
    this.hash.update(bytes);
    this.at += bytes.byteLength;
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

export async function sha256File(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const st = await handle.stat({ bigint: true });
    const known = rememberedDigest(st);
    if (known) return known;
    const h = createHash('sha256');
    const buffers = [Buffer.allocUnsafe(HASH_CHUNK), Buffer.allocUnsafe(HASH_CHUNK)];
    let position = 0;
    let reading = handle.read(buffers[0]!, 0, HASH_CHUNK, position);
    for (let k = 0; ; k ^= 1) {
      const { bytesRead } = await reading;
      if (bytesRead === 0) break;
      position += bytesRead;
      reading = handle.read(buffers[k ^ 1]!, 0, HASH_CHUNK, position);
      h.update(buffers[k]!.subarray(0, bytesRead));
    }
    return h.digest('hex');
  } finally {
    await handle.close();
  }
}

const isErrno = (e: unknown, code: string): boolean => (e as NodeJS.ErrnoException | undefined)?.code === code;

/** What a symbolic link points to, for an error message (the link text as written). */
async function linkText(link: string): Promise<string> {
  return readlink(link).catch(() => '?');
}

/**
 * stat() that follows links, with a link's failure named: a dangling link (a Hugging Face, DVC or
 * git-annex checkout whose content was never fetched) or a loop of links is an error, never a file
 * silently left out of a digest.
 */
async function statFollowing(path: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch (e) {
    if (isErrno(e, 'ENOENT') && (await lstat(path).catch(() => undefined))?.isSymbolicLink()) throw errors.linkDangling(path, await linkText(path));
    if (isErrno(e, 'ELOOP')) throw errors.linkCycle(path, await linkText(path));
    throw e;
  }
}

/**
 * Every file under `dir`, links followed: a Hugging Face hub snapshot (`snapshots/<commit>/config.json
 * -> ../../blobs/<sha>`), a DVC or git-annex checkout is nothing but links, and what a step reads is
 * what they point to. A link to a folder is walked like the folder; a link back to a folder being
 * walked is a cycle and an error.
 */
async function listFiles(dir: string): Promise<{ path: string; size: number }[]> {
  const out: { path: string; size: number }[] = [];
  // Real paths of the folders on the current walk: a link into one of them would never end.
  const walking: string[] = [];
  const walk = async (d: string) => {
    walking.push(await realpath(d));
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.push({ path: p, size: (await stat(p)).size });
      else if (e.isSymbolicLink()) {
        const st = await statFollowing(p);
        if (st.isDirectory()) {
          if (walking.includes(await realpath(p))) throw errors.linkCycle(p, await linkText(p));
          await walk(p);
        } else if (st.isFile()) out.push({ path: p, size: st.size });
      }
      // Sockets, FIFOs and devices hold no content to digest.
    }
    walking.pop();
  };
  await walk(dir);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export interface PathDigest {
  sha256: string;
  size: number;
  /** For a folder: each file's digest by relative path (POSIX separators). */
  files?: Record<string, string>;
}

/**
 * Content digest of a file, or of a folder as the sha256 of its sorted "digest  relpath" lines:
 * names and bytes count, timestamps and permissions do not. Symbolic links are followed (a link and a
 * copy of what it points to digest the same); a dangling link or a cycle is an error that names it.
 */
export async function digestPath(path: string): Promise<PathDigest> {
  const st = await statFollowing(path);
  if (st.isFile()) return { sha256: await sha256File(path), size: st.size };
  const files: Record<string, string> = {};
  let size = 0;
  for (const f of await listFiles(path)) {
    const rel = relative(path, f.path).split(sep).join('/');
    files[rel] = await sha256File(f.path);
    size += f.size;
  }
  const lines = Object.entries(files).map(([rel, d]) => `${d}  ${rel}\n`);
  return { sha256: sha256(lines.join('')), size, files };
}
