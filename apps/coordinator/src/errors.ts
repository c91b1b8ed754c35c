// Errors of a coordinator run, grouped by what happens next (shared/STYLE.md "Errors"). A lost
// worker, a failed round or a timed-out phase (`GroupFailure`) breaks the current generation: the
// coordinator re-forms the group and goes on. The others end the run: each is logged once, in
// main.ts, and the process exits non-zero. Configuration errors are `ConfigError`
// (coordinator_config.ts) and end the process at start-up.

/** Stable codes of the coordinator's run errors. */
export type CoordinatorErrorCode =
  | 'COORD_JOIN_TIMEOUT'
  | 'COORD_WORKER_LOST'
  | 'COORD_TIMEOUT'
  | 'COORD_ROUND_FAILED'
  | 'COORD_TOO_FEW_WORKERS'
  | 'COORD_NO_PROGRESS'
  | 'COORD_LOCAL_WORKER_EXIT'
  | 'COORD_BAD_REPLY'
  | 'COORD_DIVERGED'
  | 'COORD_INTERRUPTED';

/** Base class of the errors that end a run. */
export abstract class CoordinatorError extends Error {
  abstract readonly code: CoordinatorErrorCode;
}

/** Fewer workers than `--workers` said hello within `--join-timeout-ms`. */
export class JoinTimeoutError extends CoordinatorError {
  readonly code = 'COORD_JOIN_TIMEOUT' as const;
  override readonly name = 'JoinTimeoutError';
  constructor(
    readonly joined: readonly string[],
    readonly worldSize: number,
    readonly waitedMs: number,
  ) {
    super(
      `Only ${joined.length} of ${worldSize} workers joined within ${waitedMs} ms (joined: ${joined.join(', ') || 'none'}); start the rest with \`nx run worker:serve -- --coordinator <url>\` or raise --join-timeout-ms`,
    );
  }
}

/** A worker's connection closed, or it sent `error` or `leave`, after the group was formed. */
export class WorkerLostError extends CoordinatorError {
  readonly code = 'COORD_WORKER_LOST' as const;
  override readonly name = 'WorkerLostError';
  constructor(
    readonly rank: number,
    readonly workerId: string,
    /** What the run was doing, e.g. `round 7 (epoch 1, step 3)`. */
    readonly phase: string,
    readonly reason: string,
  ) {
    super(`Rank ${rank} (worker '${workerId}') lost during ${phase}: ${reason}`);
  }
}

/** Some ranks did not answer within `--round-timeout-ms`. */
export class PhaseTimeoutError extends CoordinatorError {
  readonly code = 'COORD_TIMEOUT' as const;
  override readonly name = 'PhaseTimeoutError';
  constructor(
    readonly phase: string,
    readonly missingRanks: readonly number[],
    readonly waitedMs: number,
  ) {
    super(
      `Rank${missingRanks.length === 1 ? '' : 's'} ${missingRanks.join(', ')} did not answer within ${waitedMs} ms during ${phase}; raise --round-timeout-ms if the workers are just slow`,
    );
  }
}

/** A worker reported that its all-reduce of the current round failed (`roundFailed`). */
export class RoundFailedError extends CoordinatorError {
  readonly code = 'COORD_ROUND_FAILED' as const;
  override readonly name = 'RoundFailedError';
  constructor(
    readonly rank: number,
    readonly round: number,
    readonly peerRank: number | null,
    readonly reason: string,
  ) {
    super(`Rank ${rank} failed round ${round}${peerRank === null ? '' : ` waiting for rank ${peerRank}`}: ${reason}`);
  }
}

/** The failures that break a generation but not the run: the coordinator re-forms the group. */
export type GroupFailure = WorkerLostError | PhaseTimeoutError | RoundFailedError;

export function isGroupFailure(err: unknown): err is GroupFailure {
  return err instanceof WorkerLostError || err instanceof PhaseTimeoutError || err instanceof RoundFailedError;
}

/** Fewer than `--min-workers` remained and no replacement joined within `--rejoin-timeout-ms`. */
export class TooFewWorkersError extends CoordinatorError {
  readonly code = 'COORD_TOO_FEW_WORKERS' as const;
  override readonly name = 'TooFewWorkersError';
}

/** The group was re-formed `--max-reforms` times in a row without completing a step. */
export class NoProgressError extends CoordinatorError {
  readonly code = 'COORD_NO_PROGRESS' as const;
  override readonly name = 'NoProgressError';
}

/** A worker we spawned (`--local-workers`) exited before the run ended. */
export class LocalWorkerExitError extends CoordinatorError {
  readonly code = 'COORD_LOCAL_WORKER_EXIT' as const;
  override readonly name = 'LocalWorkerExitError';
  constructor(
    readonly index: number,
    readonly exitCode: number | null,
    readonly signal: string | null,
    readonly stderrTail: string,
  ) {
    super(
      `Local worker ${index} exited with ${exitCode !== null ? `code ${exitCode}` : `signal ${signal ?? '?'}`} before the run ended${stderrTail === '' ? '' : `: ${stderrTail}`}`,
    );
  }
}

/** A worker's reply disagrees with what was asked (an evaluation shard that does not tile the split, a snapshot of the wrong size). */
export class BadReplyError extends CoordinatorError {
  readonly code = 'COORD_BAD_REPLY' as const;
  override readonly name = 'BadReplyError';
}

/** `--max-skipped-steps` updates in a row were skipped for a non-finite gradient: the run diverged. */
export class TrainingDivergedError extends CoordinatorError {
  readonly code = 'COORD_DIVERGED' as const;
  override readonly name = 'TrainingDivergedError';
}

/**
 * SIGINT or SIGTERM stopped the run (graceful_stop.ts): not a failure. `checkpoint` is what
 * `--resume` continues from (null: nothing was ever saved); main.ts exits 130 or 143 and prints
 * the command that resumes.
 */
export class InterruptedError extends CoordinatorError {
  readonly code = 'COORD_INTERRUPTED' as const;
  override readonly name = 'InterruptedError';
  constructor(
    readonly signal: NodeJS.Signals,
    readonly checkpoint: { globalStep: number; path: string } | null,
    message: string,
  ) {
    super(message);
  }
}
