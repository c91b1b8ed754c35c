// The decisions of recovery.ts (steps 3-4 of its header), apart from its waits and sockets: which
// state the next generation starts from when a survivor had none to send, how many replacements
// to wait for below --min-workers (and so when to give up after the wait), which checkpoint the
// give-up message points --resume to, and the error the run ends with. Pure: recovery_decisions.test.ts
// covers them in milliseconds; recovery.ts performs the I/O around them.
import type { StateSnapshot } from '@gnet/protocol';
import type { EpochRecord, LoadedCheckpoint } from '@gnet/run-store';
import type { CoordinatorConfig } from './coordinator_config.js';
import { TooFewWorkersError } from './errors.js';
import type { StartState } from './generation.js';
import { checkpointToStart } from './snapshot_checkpoint.js';

/** The state the next generation starts from, and the records to go back to when it is not the survivors'. */
export interface StateAfterLoss {
  state: StartState;
  /** Set when no survivor had a state and the run went back to a checkpoint (or the start). */
  rolledBackTo: { epochs: EpochRecord[]; epochSoFar: unknown } | null;
}

/**
 * Step 3: a survivor's snapshot when one was sent (the step it trains next); else the last good
 * checkpoint, its epoch records included; else the seed (global step 0, no records).
 */
export function stateAfterLoss(snapshot: StateSnapshot | null, loaded: LoadedCheckpoint | null): StateAfterLoss {
  if (snapshot !== null) return { state: startOf(snapshot), rolledBackTo: null };
  if (loaded !== null) {
    const meta = loaded.state.meta as { position: { globalStep: number }; epochs: EpochRecord[]; epochSoFar?: unknown };
    return {
      state: checkpointToStart(loaded.state, meta.position.globalStep),
      rolledBackTo: { epochs: meta.epochs, epochSoFar: meta.epochSoFar },
    };
  }
  return { state: { globalStep: 0, tensors: [], momentum: [] }, rolledBackTo: { epochs: [], epochSoFar: null } };
}

/** A survivor's snapshot as the state the next generation starts from (the step it trains next). */
export function startOf(snapshot: StateSnapshot): StartState {
  return { globalStep: snapshot.nextGlobalStep, tensors: snapshot.tensors, momentum: snapshot.momentum };
}

/**
 * Step 4: replacements to wait for (up to --rejoin-timeout-ms) with `present` members; 0 when the
 * group is big enough. After the wait, a positive count for the members still connected means
 * giving up.
 */
export function replacementsNeeded(present: number, minWorkers: number): number {
  return Math.max(0, minWorkers - present);
}

/**
 * What --resume continues from, for the give-up message; it must be true: the checkpoint saved
 * from the survivor below --min-workers, else the last one on disk, else none.
 */
export function resumeAdvice(saved: { globalStep: number; path: string } | null, last: { path: string } | null): string {
  if (saved !== null) return `a checkpoint at step ${saved.globalStep} was saved (${saved.path}): start workers and resume with --resume`;
  if (last !== null) return `the last checkpoint ${last.path} stands: start workers and resume with --resume`;
  return 'no checkpoint exists, so --resume has nothing to continue from: start the run again without it';
}

/** The error that ends the run when `open` workers are left after waiting for replacements. */
export function tooFewWorkersError(
  open: number,
  cfg: Pick<CoordinatorConfig, 'minWorkers' | 'rejoinTimeoutMs'>,
  advice: string,
): TooFewWorkersError {
  return new TooFewWorkersError(
    `Only ${open} worker${open === 1 ? '' : 's'} left, below --min-workers ${cfg.minWorkers}, and no replacement joined within --rejoin-timeout-ms ${cfg.rejoinTimeoutMs}; ${advice}`,
  );
}
