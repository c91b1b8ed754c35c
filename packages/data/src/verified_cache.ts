// Cache check for the CIFAR-10 folder: a file counts as present only if its SHA-1 matches. Hashing
// 184 MB takes about a second, so each verification is remembered in a small stamp file keyed by the
// file's size and mtime (the same trick as make / ccache's "direct mode"); a changed file is re-hashed.
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha1File, writeFileAtomic } from './atomic_file.js';
import type { DataLogger } from './data_logger.js';
import { Cifar10CorruptFileError } from './errors.js';

/** Name of the stamp file inside the cache folder. */
export const VERIFIED_STAMP_FILE = '.gnet-verified.json';

interface StampEntry {
  bytes: number;
  mtimeMs: number;
  sha1: string;
}
type Stamp = Record<string, StampEntry>;

/**
 * Who a data folder belongs to, which decides what happens to a file that fails its SHA-1:
 * `project`, the project's own cache (`~/.cache/gnet/...`): it is removed and fetched again;
 * `user`, a folder the user pointed at (`--data-dir`, `CIFAR10_DIR`): it is left in place and
 * refused with {@link Cifar10CorruptFileError}, since deleting someone's files is not ours to do.
 */
export type DataFolderOwner = 'project' | 'user';

/** What {@link findUnverified} found. */
export interface Unverified {
  /** Names to fetch: missing files and (in the project's cache) the corrupt ones removed. */
  missing: string[];
  /** Names of the corrupt files removed (project's cache only). */
  removed: string[];
}

/**
 * Returns the names in `expected` (file name -> SHA-1) that are not verified in `dir`: missing files,
 * and files whose SHA-1 differs. Files that pass are stamped. A file that fails is removed (and
 * logged) when `owner` is `project`; when it is `user`, nothing is touched and
 * {@link Cifar10CorruptFileError} names the first such file with both SHA-1s.
 */
export async function findUnverified(
  dir: string,
  expected: Readonly<Record<string, string>>,
  owner: DataFolderOwner,
  log: DataLogger,
): Promise<Unverified> {
  const stamp = await readStamp(dir);
  const unverified: string[] = [];
  const removed: string[] = [];
  let changed = false;
  for (const [name, sha1] of Object.entries(expected)) {
    const path = join(dir, name);
    const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (info === null) {
      unverified.push(name);
      continue;
    }
    const entry = stamp[name];
    if (entry !== undefined && entry.bytes === info.size && entry.mtimeMs === info.mtimeMs && entry.sha1 === sha1) continue;
    const actual = await sha1File(path);
    if (actual === sha1) {
      stamp[name] = { bytes: info.size, mtimeMs: info.mtimeMs, sha1 };
      changed = true;
      continue;
    }
    if (owner === 'user') {
      // Stamp what did verify, so the run after the user's fix does not hash those again.
      if (changed) await writeStamp(dir, stamp, log);
      throw new Cifar10CorruptFileError(path, sha1, actual);
    }
    log.warn({ file: path, expected: sha1, actual }, 'cached file failed its SHA-1 check, removing it');
    await rm(path, { force: true });
    unverified.push(name);
    removed.push(name);
  }
  if (changed) await writeStamp(dir, stamp, log);
  return { missing: unverified, removed };
}

/** Stamps files just written with a known SHA-1, so the next run does not hash them again. */
export async function stampVerified(dir: string, files: ReadonlyMap<string, string>, log: DataLogger): Promise<void> {
  const stamp = await readStamp(dir);
  for (const [name, sha1] of files) {
    const info = await stat(join(dir, name));
    stamp[name] = { bytes: info.size, mtimeMs: info.mtimeMs, sha1 };
  }
  await writeStamp(dir, stamp, log);
}

async function readStamp(dir: string): Promise<Stamp> {
  try {
    const parsed = JSON.parse(await readFile(join(dir, VERIFIED_STAMP_FILE), 'utf8')) as { version?: number; files?: Stamp };
    return parsed.version === 1 && typeof parsed.files === 'object' && parsed.files !== null ? parsed.files : {};
  } catch {
    return {}; // missing or unreadable: everything gets hashed once more
  }
}

async function writeStamp(dir: string, files: Stamp, log: DataLogger): Promise<void> {
  try {
    await writeFileAtomic(join(dir, VERIFIED_STAMP_FILE), `${JSON.stringify({ version: 1, files }, null, 1)}\n`);
  } catch (err) {
    // A read-only folder (a shared, pre-verified copy) still works; it is hashed on each run.
    log.debug({ err, dir }, 'could not write the verification stamp');
  }
}
