// writeFileAtomic on real file systems: a tmpfs that fills in the middle of a write (the write(2)
// that comes back short, which write-file-atomic 7 ignores), and device nodes like /dev/full and
// /dev/null, which must be written in place and never renamed over. Mounting and mknod need root;
// without it those cases say so and skip.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { QrunError } from '../errors.ts';
import { useTempDir } from '../../tests/helpers/temp.ts';
import { useTmpfs } from '../../tests/helpers/tmpfs.ts';
import { writeFileAtomic } from './atomic-write.ts';

const root = useTempDir();

let n = 0;
const fresh = () => {
  const dir = join(root, `d${n++}`);
  execFileSync('mkdir', [dir]);
  return dir;
};

/** A tmpfs of `size` under `root`, or undefined where this process may not mount one. */
const tmpfs = useTmpfs(fresh);

/** A private character device node (1,7 is /dev/full, 1,3 /dev/null), or undefined without mknod. */
function device(minor: 3 | 7): string | undefined {
  const node = join(fresh(), minor === 7 ? 'full' : 'null');
  try {
    execFileSync('mknod', ['-m', '666', node, 'c', '1', String(minor)], { stdio: 'ignore' });
    return node;
  } catch {
    return undefined;
  }
}

describe('writeFileAtomic', () => {
  it('replaces a file whole, keeping its mode, and leaves no temporary file', async () => {
    const dir = fresh();
    const file = join(dir, 'report.json');
    writeFileSync(file, 'old', { mode: 0o640 });
    await writeFileAtomic(file, 'new content', 'the run report');
    expect(readFileSync(file, 'utf8')).toBe('new content');
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir)).toEqual(['report.json']);
  });

  it('on a file system that fills mid-write: DISK_FULL naming the file, the old file as it was, no temporary file', async (ctx) => {
    const mnt = tmpfs('64k');
    ctx.skip(mnt === undefined, 'mounting a tmpfs needs root with CAP_SYS_ADMIN');
    const file = join(mnt!, 'report.html');
    writeFileSync(file, 'the previous report');
    // 100 kB into a 64 KiB file system that already holds a page: the first write(2) comes back short.
    const e = (await writeFileAtomic(file, 'x'.repeat(100_000), 'the run report').catch((x: unknown) => x)) as QrunError;
    expect(e).toBeInstanceOf(QrunError);
    expect(e.code).toBe('DISK_FULL');
    expect(e.message).toBe(`cannot write the run report ${file}: no space left on the device (ENOSPC)`);
    expect(readFileSync(file, 'utf8')).toBe('the previous report');
    expect(readdirSync(mnt!)).toEqual(['report.html']);
  });

  it('writes a device in place through a link: /dev/full gives DISK_FULL, /dev/null takes the bytes; both stay devices', async (ctx) => {
    const full = device(7);
    const nul = device(3);
    ctx.skip(full === undefined || nul === undefined, 'mknod needs root (CAP_MKNOD); the system /dev/full is not risked here');
    const link = join(fresh(), 'junit.xml');
    symlinkSync(full!, link);
    const e = (await writeFileAtomic(link, '<testsuites/>', 'the JUnit XML').catch((x: unknown) => x)) as QrunError;
    expect(e.code).toBe('DISK_FULL');
    expect(e.message).toBe(`cannot write the JUnit XML ${link}: no space left on the device (ENOSPC)`);
    await writeFileAtomic(nul!, '<testsuites/>', 'the JUnit XML');
    expect(statSync(full!).isCharacterDevice()).toBe(true);
    expect(statSync(nul!).isCharacterDevice()).toBe(true);
    expect(readdirSync(join(full!, '..'))).toEqual(['full']);
  });
});
