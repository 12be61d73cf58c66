// Reports and JUnit files are written whole or not at all: the bytes go to a temporary file beside
// the target, are flushed to disk, and the temporary file is renamed over the target (rename(2) is
// atomic within a file system). A reader — a CI dashboard, `qrun compare`, a person — sees the
// previous file or the new one, never half of one; on a full disk the target is left as it was.
//
// Not write-file-atomic: its 7.x writes the data with one fs.write() and ignores the
// byte count it returns. When the file system fills up mid-write, write(2) returns a short count
// without an error, so write-file-atomic renames a truncated file into place and reports success
// (seen here on a 64 KiB tmpfs: a 100 kB report became a 65,536-byte file). FileHandle.writeFile loops until every byte is written, and the write
// after a short one is the one that fails with ENOSPC.
import { randomBytes } from 'node:crypto';
import { open, realpath, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { guardDiskFull } from './disk-full.ts';

/**
 * Writes `data` to `file` atomically. `what` names the file for a user ("the run report") in the
 * error a full disk gives (errors.diskFull). A symbolic link is followed and its target replaced;
 * a target that is not a regular file (/dev/stdout, a FIFO, /dev/full) is written in place, since
 * renaming over a device node would replace the device with a file.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, what: string): Promise<void> {
  await guardDiskFull(what, file, async () => {
    const target = await realpath(file).catch(() => file);
    const existing = await stat(target).catch(() => undefined);
    if (existing && !existing.isFile()) {
      await writeFile(target, data);
      return;
    }
    const tmp = join(dirname(target), `.${basename(target)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
    try {
      const fh = await open(tmp, 'wx', existing ? existing.mode & 0o777 : 0o666);
      try {
        await fh.writeFile(data);
        // Without the flush a crash after the rename could leave an empty file under the new name.
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, target);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
  });
}
