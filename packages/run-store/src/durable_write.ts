// Crash-safe file replacement, the sequence SQLite and LevelDB use: write a temporary file in the
// same folder, fsync it, rename it over the target, then fsync the folder. Without the last step
// the rename itself may be lost on power failure (ext4, xfs: the new directory entry sits in the
// page cache); write-file-atomic stops after the rename, so checkpoints use this instead.
// A write that fails for want of space, quota or permission is a RunStoreWriteError naming the
// file, and leaves nothing half-written behind.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { toWriteError } from './write_error.js';

/** Marks a temporary file: `<target name>.tmp-<pid>-<random>`. Listings skip these names. */
export const TEMP_MARKER = '.tmp-';

/**
 * Replaces `path` with `bytes` so that after a crash at any point readers find the old content or
 * the new one, never a mix, and once the promise resolves the new content survives power loss.
 * A crash can leave the temporary file behind (its name holds `TEMP_MARKER`); callers that own
 * the folder remove such leftovers. A failed write removes it at once.
 *
 * @throws RunStoreWriteError (`cause`: the errno error) on ENOSPC, EDQUOT, EROFS, EACCES, EPERM,
 *   naming `path` (not the temporary name), the bytes and a hint; other errors as they come.
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
    throw await toWriteError(err, path, bytes.byteLength);
  }
  await syncDir(dirname(path));
}

/**
 * Appends `text` to `path` (created if missing) whole or not at all: a write that fails part-way
 * (a disk filling up mid-record) is cut back to the file's old length, so a JSON-lines file never
 * ends in half a record. One writer per file, as for the run folder.
 *
 * @throws RunStoreWriteError on ENOSPC, EDQUOT, EROFS, EACCES, EPERM (see {@link writeFileDurable}).
 */
export async function appendFileWhole(path: string, text: string): Promise<void> {
  const bytes = Buffer.from(text, 'utf8');
  let file;
  try {
    file = await open(path, 'a');
  } catch (err) {
    throw await toWriteError(err, path, bytes.byteLength, `append ${bytes.byteLength} bytes to`);
  }
  let oldLength: number | null = null;
  try {
    oldLength = (await file.stat()).size;
    await file.writeFile(bytes);
  } catch (err) {
    if (oldLength !== null) await file.truncate(oldLength).catch(() => undefined);
    throw await toWriteError(err, path, bytes.byteLength, `append ${bytes.byteLength} bytes to`);
  } finally {
    await file.close();
  }
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

/** `mkdir -p dir`, with a full disk, a read-only mount or a forbidden parent reported as RunStoreWriteError. */
export async function makeFolder(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw await toWriteError(err, dir, null, 'create the folder');
  }
}
