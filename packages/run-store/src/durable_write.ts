// Crash-safe file replacement, the sequence SQLite and LevelDB use: write a temporary file in the
// same folder, fsync it, rename it over the target, then fsync the folder. Without the last step
// the rename itself may be lost on power failure (ext4, xfs: the new directory entry sits in the
// page cache); write-file-atomic stops after the rename, so checkpoints use this instead.
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Marks a temporary file: `<target name>.tmp-<pid>-<random>`. Listings skip these names. */
export const TEMP_MARKER = '.tmp-';

/**
 * Replaces `path` with `bytes` so that after a crash at any point readers find the old content or
 * the new one, never a mix, and once the promise resolves the new content survives power loss.
 * A crash can leave the temporary file behind (its name holds `TEMP_MARKER`); callers that own
 * the folder remove such leftovers.
 */
export async function writeFileDurable(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}${TEMP_MARKER}${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    // 'wx': never follow or reuse an existing file under the temporary name.
    const file = await open(tmp, 'wx');
    try {
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dirname(path));
}

/**
 * fsyncs a folder so that renames and deletions in it are durable. Some platforms cannot open a
 * folder for fsync (Windows: EISDIR / EPERM); there the rename is as durable as the OS makes it.
 */
export async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
  } catch (err) {
    if (isUnsupported(err)) return;
    throw err;
  }
  try {
    await handle.sync();
  } catch (err) {
    if (!isUnsupported(err)) throw err;
  } finally {
    await handle.close();
  }
}

function isUnsupported(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EISDIR' || code === 'EPERM' || code === 'EINVAL' || code === 'EBADF';
}

