// Round numbers that are unique over the whole run, across coordinator restarts (shared/STYLE.md
// "Identifiers that outlive a process are unique across its restarts"). This is the one place
// that guarantees what the protocol states (`roundStart.round` "is never reused"), and on which
// workers rely: a worker remembers the rounds the coordinator aborted (replica_session.ts drops a
// `roundStart` for one of them unrun) and the chunk receiver drops late chunks by round, both
// across reconnects to a restarted coordinator. A coordinator life that counted from 1 again would
// hand out an aborted round's number, which every worker would then silently drop (issue 10: a
// resumed run hung for --round-timeout-ms).
//
// How: a hi/lo allocator, as databases hand out sequence values. Each life reserves a block of
// numbers by writing the first number after the block to `<run>/rounds.json` durably *before*
// using any number in it, and reserves the next block the same way when this one runs out. A
// restarted life starts at the persisted floor, so it can skip numbers (those a crashed life had
// reserved but not used) but never repeat one, and numbers only grow over the run (the chunk
// receiver takes a lower round for a late frame of an aborted one).
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError } from './coordinator_config.js';

/** Numbers reserved per write: one small fsync'd write every this many rounds. */
export const ROUND_BLOCK = 10_000;
/** Round numbers travel as uint32 (chunk frame headers). */
export const MAX_ROUND = 0xffffffff;
/**
 * The floor for a resumed run folder that has no rounds.json (written before this file existed):
 * far above any round such a run can have used (a step is about one round).
 */
export const LEGACY_FLOOR = 2 ** 31;
const FILE = 'rounds.json';

/** Hands out the run's round numbers; see the top of this file. */
export class RoundIds {
  private nextId: number;
  private blockEnd: number;

  private constructor(
    private readonly path: string,
    start: number,
    /** How the floor was found, for the log. */
    readonly origin: 'fresh' | 'persisted' | 'legacy',
  ) {
    this.nextId = start;
    this.blockEnd = start;
  }

  /**
   * Opens the run folder's allocator. `resume`: continue after every number an earlier life may
   * have used; otherwise a fresh run starts at round 1.
   */
  static open(runDir: string, resume: boolean): RoundIds {
    const path = join(runDir, FILE);
    if (!resume) return new RoundIds(path, 1, 'fresh');
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      return new RoundIds(path, LEGACY_FLOOR, 'legacy');
    }
    let floor: unknown;
    try {
      floor = (JSON.parse(text) as { nextFreeRound?: unknown }).nextFreeRound;
    } catch {
      floor = undefined;
    }
    if (typeof floor !== 'number' || !Number.isInteger(floor) || floor < 1 || floor > MAX_ROUND + 1) {
      throw new ConfigError(
        `--resume: ${path} must hold {"nextFreeRound": <integer 1..${MAX_ROUND + 1}>}, but holds ${JSON.stringify(text.slice(0, 200))}; it guards round numbers across coordinator restarts`,
      );
    }
    return new RoundIds(path, floor, 'persisted');
  }

  /** The next unused round number (reserving a new block on disk first when the current one is spent). */
  next(): number {
    if (this.nextId >= this.blockEnd) this.reserve();
    const id = this.nextId;
    this.nextId += 1;
    return id;
  }

  /** The number `next()` returns (without reserving); for logs and tests. */
  peek(): number {
    return this.nextId;
  }

  private reserve(): void {
    const end = Math.min(this.nextId + ROUND_BLOCK, MAX_ROUND + 1);
    if (end <= this.nextId) {
      throw new ConfigError(`The run has used every round number up to ${MAX_ROUND} (${this.path}); start a new run folder`);
    }
    writeDurableSync(this.path, JSON.stringify({ nextFreeRound: end }) + '\n');
    this.blockEnd = end;
  }
}

/** Temp file, fsync, rename, fsync the folder: after a crash the old or the new floor, never neither. */
function writeDurableSync(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
