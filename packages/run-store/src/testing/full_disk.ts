// A real, tiny file system for tests of what happens when the disk fills up: a tmpfs of a given
// size, mounted on a fresh temporary folder. Mounting takes root (CAP_SYS_ADMIN), which CI has; a
// test that cannot mount fails with the reason instead of being skipped.
import { execFile } from 'node:child_process';
import { mkdtemp, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs `fn` with a folder that is the root of a fresh `sizeBytes` tmpfs; unmounts and removes it afterwards. */
export async function withFullDiskFolder<T>(sizeBytes: number, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'gnet-small-disk-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0755`, 'tmpfs', dir]);
  } catch (err) {
    await rmdir(dir);
    const uid = process.getuid?.();
    throw new Error(
      `This test needs a real full disk: it mounts a ${sizeBytes}-byte tmpfs on ${dir}, which takes root ` +
        `(CAP_SYS_ADMIN); running as uid ${uid ?? 'unknown'}, mount failed: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}. ` +
        'Run the run-store tests as root (CI does).',
      { cause: err },
    );
  }
  try {
    return await fn(dir);
  } finally {
    await run('umount', [dir]);
    await rmdir(dir);
  }
}

/** Remounts the tmpfs at `dir` read-only. */
export async function remountReadOnly(dir: string): Promise<void> {
  await run('mount', ['-o', 'remount,ro', dir]);
}
