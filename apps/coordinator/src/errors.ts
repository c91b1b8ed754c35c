// Errors that end a coordinator run, grouped by what happens next (shared/STYLE.md "Errors"): each
// is logged once, in main.ts, and the process exits non-zero. A lost or failed worker ends the run
// (elastic re-forming of the group is issue 4); configuration errors are `ConfigError`
// (coordinator_config.ts) and end the process at start-up.

/** Stable codes of the coordinator's run errors. */
export type CoordinatorErrorCode = 'COORD_JOIN_TIMEOUT' | 'COORD_WORKER_LOST' | 'COORD_TIMEOUT' | 'COORD_LOCAL_WORKER_EXIT' | 'COORD_BAD_REPLY' | 'COORD_DIVERGED';

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
    super(`Rank${missingRanks.length === 1 ? '' : 's'} ${missingRanks.join(', ')} did not answer within ${waitedMs} ms during ${phase}; raise --round-timeout-ms if the workers are just slow`);
  }
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

/** A worker reported a loss that is NaN or infinite: the run diverged. */
export class TrainingDivergedError extends CoordinatorError {
  readonly code = 'COORD_DIVERGED' as const;
  override readonly name = 'TrainingDivergedError';
}
