// Write failures a person can act on, named (issue 10: "a full disk: ENOSPC with no path and no
// hint"): a full disk, a used-up quota, a read-only file system or a folder we may not write to
// become a RunStoreWriteError naming the file, the bytes it tried to write, the mount point and
// what to do; the operating system's error stays as `cause`. Other errors pass through unchanged.
import { dirname } from 'node:path';
import { mountPointOf } from './mount_point.js';

/** Codes of {@link RunStoreWriteError}, one per errno it replaces. */
export type RunStoreWriteErrorCode =
  | 'RUN_STORE_DISK_FULL' // ENOSPC
  | 'RUN_STORE_QUOTA_EXCEEDED' // EDQUOT
  | 'RUN_STORE_READ_ONLY' // EROFS
  | 'RUN_STORE_NO_PERMISSION'; // EACCES, EPERM

const BY_ERRNO: Readonly<Record<string, { code: RunStoreWriteErrorCode; reason: string; hint: (mount: string, dir: string) => string }>> = {
  ENOSPC: {
    code: 'RUN_STORE_DISK_FULL',
    reason: 'no space left on the device',
    hint: (mount) => `free space on ${mount} or pass --run-dir elsewhere`,
  },
  EDQUOT: {
    code: 'RUN_STORE_QUOTA_EXCEEDED',
    reason: 'disk quota exceeded',
    hint: (mount) => `free space within your quota on ${mount} or pass --run-dir elsewhere`,
  },
  EROFS: {
    code: 'RUN_STORE_READ_ONLY',
    reason: 'read-only file system',
    hint: (mount) => `${mount} is mounted read-only: pass --run-dir elsewhere`,
  },
  EACCES: {
    code: 'RUN_STORE_NO_PERMISSION',
    reason: 'permission denied',
    hint: (_, dir) => `make ${dir} writable or pass --run-dir elsewhere`,
  },
  EPERM: {
    code: 'RUN_STORE_NO_PERMISSION',
    reason: 'operation not permitted',
    hint: (_, dir) => `make ${dir} writable or pass --run-dir elsewhere`,
  },
};

/**
 * Writing to the run folder failed for a reason outside the program: the disk is full, the quota
 * used up, the file system read-only or the folder not ours to write. Ends the run with a message
 * that says where and what to do; nothing half-written is left behind (the writer removed its
 * temporary file, or cut an appended file back to its old length).
 */
export class RunStoreWriteError extends Error {
  override readonly name = 'RunStoreWriteError';
  constructor(
    readonly code: RunStoreWriteErrorCode,
    /** The file (or folder) that could not be written. */
    readonly path: string,
    /** Bytes the write tried to put there; null when the writer does not know (a folder, a rendered chart). */
    readonly bytes: number | null,
    /** Mount point the path lives on (see mount_point.ts). */
    readonly mount: string,
    /** What to do, e.g. `free space on /mnt/scratch or pass --run-dir elsewhere`. */
    readonly hint: string,
    message: string,
    options: { cause: unknown },
  ) {
    super(message, options);
  }
}

/** The errno codes {@link toWriteError} replaces. */
export function isWriteErrno(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && Object.hasOwn(BY_ERRNO, code);
}

/**
 * `err` as a {@link RunStoreWriteError} when its errno is one a person can act on, else `err`
 * itself. `action` completes "Could not ... <path>": e.g. `write 1024 bytes to`.
 *
 * @example
 * catch (err) { throw await toWriteError(err, path, bytes.byteLength); }
 * // RunStoreWriteError: Could not write 43212 bytes to /mnt/s/run/checkpoints/ckpt-000000010.ckpt:
 * //   no space left on the device (ENOSPC); free space on /mnt/s or pass --run-dir elsewhere
 */
export async function toWriteError(
  err: unknown,
  path: string,
  bytes: number | null,
  action = bytes === null ? 'write' : `write ${bytes} bytes to`,
): Promise<unknown> {
  if (!isWriteErrno(err)) return err;
  const errno = (err as NodeJS.ErrnoException).code!;
  const known = BY_ERRNO[errno]!;
  const mount = await mountPointOf(path);
  const hint = known.hint(mount, dirname(path));
  return new RunStoreWriteError(known.code, path, bytes, mount, hint, `Could not ${action} ${path}: ${known.reason} (${errno}); ${hint}`, {
    cause: err,
  });
}
