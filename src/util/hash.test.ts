// digestPath follows symbolic links: a Hugging Face snapshot, a DVC or a git-annex checkout is made of
// links, and two such checkouts with different content must never digest the same.
import { createHash } from 'node:crypto';
import { appendFileSync, copyFileSync, mkdirSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { QrunError } from '../errors.ts';
import { useTempDir } from '../../tests/helpers/temp.ts';
import { copyRemembering, digestPath, knownDigest, rememberDigest, sha256File } from './hash.ts';

const root = useTempDir();
let n = 0;
const fresh = (): string => {
  const d = join(root, `case-${n++}`);
  mkdirSync(d, { recursive: true });
  return d;
};

/** A checkout as git-annex or the HF hub writes it: the files are relative links into a store. */
function linkedCheckout(files: Record<string, string>): string {
  const base = fresh();
  mkdirSync(join(base, 'store'));
  mkdirSync(join(base, 'tree', 'onnx'), { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    const blob = `blob-${rel.replace(/\W/g, '_')}`;
    writeFileSync(join(base, 'store', blob), content);
    symlinkSync(rel.includes('/') ? `../../store/${blob}` : `../store/${blob}`, join(base, 'tree', rel));
  }
  return join(base, 'tree');
}

function copiedCheckout(files: Record<string, string>): string {
  const dir = fresh();
  mkdirSync(join(dir, 'onnx'));
  for (const [rel, content] of Object.entries(files)) writeFileSync(join(dir, rel), content);
  return dir;
}

describe('digestPath and symbolic links', () => {
  const a = { 'config.json': '{"model_type":"bert"}', 'onnx/model.onnx': 'weights of a' };
  const b = { 'config.json': '{"model_type":"bert"}', 'onnx/model.onnx': 'weights of b' };

  it('two linked checkouts with different content digest differently (links were skipped: both digested as empty)', async () => {
    const da = await digestPath(linkedCheckout(a));
    const db = await digestPath(linkedCheckout(b));
    expect(Object.keys(da.files!)).toEqual(['config.json', 'onnx/model.onnx']);
    expect(da.sha256).not.toBe(db.sha256);
    expect(da.size).toBe(a['config.json'].length + a['onnx/model.onnx'].length);
  });

  it('a link digests as a copy of what it points to', async () => {
    expect(await digestPath(linkedCheckout(a))).toEqual(await digestPath(copiedCheckout(a)));
    const single = linkedCheckout({ 'config.json': 'x' });
    expect((await digestPath(join(single, 'config.json'))).sha256).toBe((await digestPath(join(copiedCheckout({ 'config.json': 'x' }), 'config.json'))).sha256);
  });

  it('a link to a folder is walked like the folder', async () => {
    const dir = fresh();
    mkdirSync(join(dir, 'real'));
    writeFileSync(join(dir, 'real', 'vocab.txt'), 'hello');
    mkdirSync(join(dir, 'model'));
    symlinkSync('../real', join(dir, 'model', 'tokenizer'));
    expect((await digestPath(join(dir, 'model'))).files).toEqual({ 'tokenizer/vocab.txt': expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('a dangling link is an error that names it (a checkout whose content was never fetched)', async () => {
    const dir = fresh();
    writeFileSync(join(dir, 'config.json'), '{}');
    symlinkSync('../../blobs/0123abcd', join(dir, 'model.onnx'));
    const e = await digestPath(dir).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(QrunError);
    expect((e as QrunError).code).toBe('LINK_DANGLING');
    expect((e as QrunError).message).toBe(`${join(dir, 'model.onnx')} is a symbolic link to ../../blobs/0123abcd, which does not exist`);
    expect((e as QrunError).diagnostics[0]!.hint).toMatch(/huggingface-cli download, dvc pull, git annex get/);
    await expect(digestPath(join(dir, 'model.onnx'))).rejects.toMatchObject({ code: 'LINK_DANGLING' });
  });

  it('a link to a folder that holds it is a cycle, and an error', async () => {
    const dir = fresh();
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'f'), 'x');
    symlinkSync('..', join(dir, 'sub', 'up'));
    await expect(digestPath(dir)).rejects.toMatchObject({ code: 'LINK_CYCLE', message: expect.stringContaining(join(dir, 'sub', 'up')) });
    const loop = fresh();
    symlinkSync('b', join(loop, 'a'));
    symlinkSync('a', join(loop, 'b'));
    await expect(digestPath(loop)).rejects.toMatchObject({ code: 'LINK_CYCLE' });
  });
});

// Files qrun just wrote and hashed on the way out are not read back to be digested; a file changed
// since (any write changes its ctime, which userland cannot set back) is read again.
describe('digests remembered by the writer', () => {
  it('sha256File returns the remembered digest while the file is unchanged, and reads it again once it changed', async () => {
    const file = join(fresh(), 'model.onnx');
    writeFileSync(file, 'weights v1');
    const real = createHash('sha256').update('weights v1').digest('hex');
    // A deliberately wrong digest shows whether the bytes were read (the writer's own is right).
    await rememberDigest(file, 'remembered');
    expect(await knownDigest(file)).toBe('remembered');
    expect(await sha256File(file)).toBe('remembered');
    // Same size, other bytes, at once: ctime moves on (Linux ≥ 6.13 makes it finer than its 4 ms tick
    // after a stat saw it), so the file is read again.
    writeFileSync(file, 'weights v2');
    expect(await knownDigest(file)).toBeUndefined();
    expect(await sha256File(file)).toBe(createHash('sha256').update('weights v2').digest('hex'));
    // Restoring the bytes and the mtime does not bring the memo back (ctime cannot be set).
    writeFileSync(file, 'weights v1');
    await rememberDigest(file, real);
    const { atime, mtime } = statSync(file);
    appendFileSync(file, '!');
    truncateSync(file, 'weights v1'.length);
    utimesSync(file, atime, mtime);
    expect(await knownDigest(file)).toBeUndefined();
    expect(await sha256File(file)).toBe(real);
  });

  it('a copy of a file whose digest is remembered is remembered too, unless the source changed during the copy', async () => {
    const dir = fresh();
    const from = join(dir, 'model.onnx');
    writeFileSync(from, 'final model');
    await rememberDigest(from, 'known');
    await copyRemembering(from, join(dir, 'copy.onnx'), async () => copyFileSync(from, join(dir, 'copy.onnx')));
    expect(await knownDigest(join(dir, 'copy.onnx'))).toBe('known');
    // Changed while being copied: the copy is read when digested.
    await copyRemembering(from, join(dir, 'copy2.onnx'), async () => {
      copyFileSync(from, join(dir, 'copy2.onnx'));
      writeFileSync(from, 'edited model');
    });
    expect(await knownDigest(join(dir, 'copy2.onnx'))).toBeUndefined();
    expect(await sha256File(join(dir, 'copy2.onnx'))).toBe(createHash('sha256').update('final model').digest('hex'));
  });

  it('sha256File reads files larger than its two 4 MiB buffers in order', async () => {
    const file = join(fresh(), 'big.bin');
    const bytes = Buffer.alloc(9 * 2 ** 20 + 123);
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = (i / 4096) & 255;
    writeFileSync(file, bytes);
    expect(await sha256File(file)).toBe(createHash('sha256').update(bytes).digest('hex'));
  });
});
