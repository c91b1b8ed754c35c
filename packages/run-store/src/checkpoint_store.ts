// A folder of checkpoints named by global step (`ckpt-000001234.ckpt`), newest kept, older pruned,
// the way TensorFlow's CheckpointManager (`max_to_keep`) and PyTorch Lightning's ModelCheckpoint
// (`save_top_k`) keep them: a run that finds its newest checkpoint torn or corrupt falls back to
// the one before instead of starting over.
//
// One writer per folder (the process that trains), through one store for loading and saving; any
// number of readers. Saves through one store are serialised, so a save never removes another
// save's temporary file.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointError, loadCheckpoint, saveCheckpoint, type CheckpointErrorCode, type CheckpointState } from './checkpoint.js';
import { makeFolder, syncDir, TEMP_MARKER } from './durable_write.js';

/** Checkpoints kept when the caller does not say: enough to survive a corrupt newest file and one more. */
export const DEFAULT_KEEP_CHECKPOINTS = 3;
/** Digits of the zero-padded step in a file name; larger steps simply get longer names. */
const STEP_DIGITS = 9;
const NAME = /^ckpt-(\d+)\.ckpt$/;

/** `ckpt-<step>.ckpt.tmp-<pid>-<random>`: what writeFileDurable leaves behind when the process dies mid-save. */
function isLeftoverTemp(name: string): boolean {
  const i = name.indexOf(TEMP_MARKER);
  return i > 0 && NAME.test(name.slice(0, i));
}

export interface CheckpointEntry {
  path: string;
  globalStep: number;
}

export interface SkippedCheckpoint {
  path: string;
  /** The `CheckpointError` code (`CKPT_CORRUPT`, `CKPT_INCOMPATIBLE`, `CKPT_UNREADABLE`, `CKPT_NOT_FOUND`). */
  code: CheckpointErrorCode;
  /** The error message: names the file and what was wrong with it. */
  reason: string;
}

export interface LoadedCheckpoint {
  state: CheckpointState;
  path: string;
  globalStep: number;
  /** Newer checkpoints that could not be loaded, newest first. */
  skipped: SkippedCheckpoint[];
}

export interface SavedCheckpoint {
  path: string;
  globalStep: number;
  /** Checkpoints and leftover temporary files this save deleted. */
  removed: string[];
}

/** The part of a pino logger the store uses, so run-store needs no logging library. */
export interface CheckpointWarnLog {
  warn(fields: Record<string, unknown>, message: string): void;
}

/** Thrown by `loadLatestGood` when checkpoints exist but none loads; `tried` lists each file and why, newest first. */
export class NoGoodCheckpointError extends CheckpointError {
  constructor(
    readonly dir: string,
    readonly tried: readonly SkippedCheckpoint[],
  ) {
    super(
      'CKPT_NONE_GOOD',
      `None of the ${tried.length} checkpoints in ${dir} can be loaded; tried, newest first: ${tried.map((t) => t.reason).join('; ')}`,
    );
    this.name = 'NoGoodCheckpointError';
  }
}

/**
 * @example
 * const store = new CheckpointStore('runs/x/checkpoints', { keep: 3 });
 * await store.save(replica.snapshot(meta), globalStep);
 * const latest = await store.loadLatestGood(log); // null: nothing saved yet
 */
export class CheckpointStore {
  readonly keep: number;
  private queue: Promise<unknown> = Promise.resolve();
  /** Files `loadLatestGood` found corrupt: the next save deletes them so they do not take a place among the `keep`. */
  private readonly knownCorrupt = new Set<string>();

  constructor(
    readonly dir: string,
    options: { keep?: number } = {},
  ) {
    const keep = options.keep ?? DEFAULT_KEEP_CHECKPOINTS;
    if (!Number.isSafeInteger(keep) || keep < 1) {
      throw new CheckpointError('CKPT_INVALID_ARGUMENT', `\`keep\` passed to \`CheckpointStore\` must be an integer >= 1, but got ${keep}`);
    }
    this.keep = keep;
  }

  /** The file a checkpoint of `globalStep` is saved to. */
  pathFor(globalStep: number): string {
    return join(this.dir, `ckpt-${String(globalStep).padStart(STEP_DIGITS, '0')}.ckpt`);
  }

  /**
   * Saves `state` as the checkpoint of `globalStep` (atomic and durable: saveCheckpoint), replacing
   * one of the same step, then deletes leftover temporary files, the files `loadLatestGood` of
   * this store found corrupt (already reported there), every checkpoint of a later step (a run
   * that resumed from an earlier checkpoint abandoned them; keeping them would let a stale future
   * outrank the present) and all but the newest `keep`. A full disk, a used-up quota or a
   * read-only or forbidden folder is a `RunStoreWriteError` naming the file, the bytes and what to
   * do, with no temporary file left and the checkpoints already there untouched.
   */
  save(state: CheckpointState, globalStep: number): Promise<SavedCheckpoint> {
    if (!Number.isSafeInteger(globalStep) || globalStep < 0) {
      return Promise.reject(
        new CheckpointError(
          'CKPT_INVALID_ARGUMENT',
          `\`globalStep\` passed to \`CheckpointStore.save\` must be a non-negative integer, but got ${globalStep}`,
        ),
      );
    }
    const run = this.queue.then(() => this.saveNow(state, globalStep));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async saveNow(state: CheckpointState, globalStep: number): Promise<SavedCheckpoint> {
    await makeFolder(this.dir);
    const removed: string[] = [];
    // Temporary files can only be leftovers of a crashed writer: saves are serialised.
    for (const name of await readdir(this.dir)) {
      if (isLeftoverTemp(name)) {
        await rm(join(this.dir, name), { force: true });
        removed.push(join(this.dir, name));
      }
    }
    const path = this.pathFor(globalStep);
    await saveCheckpoint(path, state);
    for (const bad of this.knownCorrupt) {
      if (bad === path) continue; // just replaced by the good one
      await rm(bad, { force: true });
      removed.push(bad);
    }
    this.knownCorrupt.clear();
    const entries = await this.list();
    const upToNow = entries.filter((e) => e.globalStep <= globalStep && e.path !== path);
    const stale = [...entries.filter((e) => e.globalStep > globalStep), ...upToNow.slice(0, Math.max(0, upToNow.length - (this.keep - 1)))];
    for (const e of stale) {
      await rm(e.path, { force: true });
      removed.push(e.path);
    }
    if (removed.length > 0) await syncDir(this.dir);
    return { path, globalStep, removed };
  }

  /** The checkpoints present (temporary files excluded), oldest first by global step. */
  async list(): Promise<CheckpointEntry[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const entries: Array<CheckpointEntry & { name: string }> = [];
    for (const name of names) {
      const m = NAME.exec(name);
      const globalStep = m ? Number(m[1]) : NaN;
      if (Number.isSafeInteger(globalStep)) entries.push({ name, path: join(this.dir, name), globalStep });
    }
    entries.sort((a, b) => a.globalStep - b.globalStep || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return entries.map(({ path, globalStep }) => ({ path, globalStep }));
  }

  /**
   * Loads the newest checkpoint that reads and verifies, newest first. Each one skipped (torn,
   * corrupt, unreadable, another format version) is logged once on `log` as a warning naming the
   * file and why, and listed in `skipped`. Returns null when the folder holds no checkpoint;
   * throws `NoGoodCheckpointError` (`CKPT_NONE_GOOD`) when it holds some but none loads. The next
   * `save` of this store deletes the ones skipped as corrupt.
   */
  async loadLatestGood(log?: CheckpointWarnLog): Promise<LoadedCheckpoint | null> {
    const entries = await this.list();
    if (entries.length === 0) return null;
    const skipped: SkippedCheckpoint[] = [];
    for (const { path, globalStep } of entries.reverse()) {
      try {
        const state = await loadCheckpoint(path);
        return { state, path, globalStep, skipped };
      } catch (err) {
        if (!(err instanceof CheckpointError)) throw err;
        const skip: SkippedCheckpoint = { path, code: err.code, reason: err.message };
        skipped.push(skip);
        log?.warn({ ...skip }, 'checkpoint skipped');
        // Corruption is a property of the bytes; an unreadable file may read next time, and a file
        // of another format version may belong to a newer build: those are left alone.
        if (err.code === 'CKPT_CORRUPT') this.knownCorrupt.add(path);
      }
    }
    throw new NoGoodCheckpointError(this.dir, skipped);
  }
}
