// A write that fails because the file system is full (ENOSPC), over quota (EDQUOT) or mounted
// read-only (EROFS) is the user's machine, not a bug in qrun: it becomes errors.diskFull, naming the
// file and the fix, instead of a raw errno that cli.ts would print as "this is a bug in qrun".
// Call sites that write (journal, reports, JUnit, the cache store) wrap their writes with these.
import { errors, type QrunError } from '../errors.ts';

const CODES = new Set(['ENOSPC', 'EDQUOT', 'EROFS']);

/** Whether `e` is a Node system error of a full, over-quota or read-only file system. */
export function isDiskFull(e: unknown): e is NodeJS.ErrnoException {
  return typeof e === 'object' && e !== null && CODES.has((e as NodeJS.ErrnoException).code ?? '');
}

/** errors.diskFull for a disk-full error (path: the file qrun was writing); anything else: undefined. */
export function diskFullError(e: unknown, what: string, path: string): QrunError | undefined {
  return isDiskFull(e) ? errors.diskFull(what, path, e.code!, { cause: e }) : undefined;
}

/** Runs `write`; a disk-full error becomes errors.diskFull(what, path), anything else is rethrown. */
export function guardDiskFullSync<T>(what: string, path: string, write: () => T): T {
  try {
    return write();
  } catch (e) {
    throw diskFullError(e, what, path) ?? e;
  }
}

/** Async form of guardDiskFullSync. */
export async function guardDiskFull<T>(what: string, path: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (e) {
    throw diskFullError(e, what, path) ?? e;
  }
}
