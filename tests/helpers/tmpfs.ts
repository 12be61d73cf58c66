// Real, genuinely full file systems for disk-full tests: a tmpfs of a chosen size, mounted where this
// process may (root with CAP_SYS_ADMIN), so ENOSPC comes from the kernel and not from a stub.
import { execFileSync } from 'node:child_process';
import { afterAll } from 'vitest';
import { tempDir } from './cli.ts';

/**
 * Call in a describe body: returns a function that mounts a fresh tmpfs of `size` and gives its path,
 * or undefined where this process may not mount one (the caller skips). Every mount is unmounted
 * after the describe block (or the file, called at top level). `newDir` makes each mount point: a
 * unit test passes one under its own cleaned-up temp folder.
 */
export function useTmpfs(newDir: () => string = () => tempDir('qrun-tmpfs-')): (size: string) => string | undefined {
  const mounts: string[] = [];
  afterAll(() => {
    for (const m of mounts) execFileSync('umount', [m]);
  });
  return (size) => {
    const dir = newDir();
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    } catch {
      return undefined;
    }
    mounts.push(dir);
    return dir;
  };
}
