// The last act of a run stopped by SIGINT/SIGTERM (graceful_stop.ts): abort the round still
// running (its grace ran out), take the state of one worker (alive first, then one that is leaving
// on its own signal and still answers), write it as a checkpoint, and describe truthfully what
// `--resume` will continue from. Every wait is bounded; a second signal (hardAbort) ends it at once.
// `endFailedRun` is the coordinator's catch path: the stop with a checkpoint when a stop was asked
// for, the `failed` event, then `roundAbort` and `leave` to the group still formed. The decisions
// (whether a failure is a stop, which checkpoint the message names, what the group is told) are
// pure functions, unit-tested in stop_checkpoint.test.ts; the rest is thin I/O.
import type { Logger } from 'pino';
import type { Leave, RoundAbort } from '@gnet/protocol';
import type { CheckpointStore, RunCheckpointMeta } from '@gnet/run-store';
import type { WriteCheckpoint } from './checkpoint_writer.js';
import { InterruptedError, isGroupFailure } from './errors.js';
import type { Generation } from './generation.js';
import { StopRequestedError, type GracefulStop } from './graceful_stop.js';
import type { RunEvents } from './run_events.js';
import { shutDown, type Candidate, type WorkerGroup } from './worker_group.js';

/** A checkpoint on disk: the step it trains next and its file. */
export interface CheckpointRef {
  globalStep: number;
  path: string;
}

/** What {@link stopWithCheckpoint} needs from the run. */
export interface StopContext {
  signal: NodeJS.Signals;
  /** The current generation; null when none was formed yet. */
  generation: Generation | null;
  /** The round whose step was in progress (its grace ran out), if any. */
  roundInProgress: number | null;
  /** Writes a snapshot as checkpoints/ckpt-<step>.ckpt and returns its path; null before the run folder is ready. */
  writeCheckpoint: WriteCheckpoint | null;
  /** The newest good checkpoint on disk (this life's or an earlier one's), for the message. */
  newestCheckpoint: () => Promise<CheckpointRef | null>;
  /** Rejects on a second signal: give up on saving. */
  hardAbort: Promise<never>;
  /** How long one worker may take to send its state. */
  snapshotTimeoutMs: number;
  log: Logger;
}

/** Saves what can be saved and returns the `InterruptedError` that ends the run (never throws otherwise). */
export async function stopWithCheckpoint(context: StopContext): Promise<InterruptedError> {
  const { signal, log } = context;
  let hard = false;
  context.hardAbort.catch(() => (hard = true));
  const generation = context.generation;
  let saved: CheckpointRef | null = null;
  let why = '';
  if (generation === null || generation.group.isDetached || context.writeCheckpoint === null) {
    why = 'no group was training';
  } else {
    const { group } = generation;
    const aborting = new Error(`the coordinator is stopping (${signal})`);
    if (context.roundInProgress !== null) {
      group.broadcast({
        type: 'roundAbort',
        round: context.roundInProgress,
        reason: `the coordinator is stopping (${signal}); --stop-grace-ms ran out`,
      });
      log.info({ round: context.roundInProgress }, 'stop: the step in progress did not finish within --stop-grace-ms; aborted it');
    }
    // A wait still pending (the step, an evaluation) must not block the snapshot's.
    group.abortWait(aborting);
    group.clearQueues();
    // Alive ranks first; then ranks leaving on their own signal (read only after the first tries:
    // an alive rank's `leave` may arrive meanwhile, and it still answers as a leaving one).
    const candidates = function* (): Generator<readonly [number, boolean]> {
      for (const r of group.aliveRanks) yield [r, false];
      for (const r of group.leavingRanks) yield [r, true];
    };
    for (const [rank, leaving] of candidates()) {
      try {
        const phase = `state snapshot from rank ${rank} before stopping (${signal})`;
        const snapshot = await Promise.race([
          group.requestSnapshot(rank, { globalStep: 0, timeoutMs: context.snapshotTimeoutMs, phase, fromLeaving: leaving }),
          context.hardAbort,
        ]);
        const path = await context.writeCheckpoint(snapshot, generation, snapshot.nextGlobalStep);
        saved = { globalStep: snapshot.nextGlobalStep, path };
        break;
      } catch (err) {
        group.abortWait(aborting);
        why = err instanceof Error ? err.message : String(err);
        log.warn({ rank, reason: why }, 'stop: a worker could not send its state');
        // A second signal: give up at once.
        if (hard) break;
      }
    }
  }
  const pointTo = saved ?? (await context.newestCheckpoint().catch(() => null));
  return interruptedError(signal, saved !== null ? 'saved' : 'newest', pointTo, why);
}

/**
 * The error that ends a run stopped by `signal`, naming the checkpoint --resume continues from:
 * the one just `saved`, else the `newest` on disk (with `why` the state could not be saved now),
 * else none (there is nothing to resume).
 */
export function interruptedError(
  signal: NodeJS.Signals,
  kind: 'saved' | 'newest',
  checkpoint: CheckpointRef | null,
  why: string,
): InterruptedError {
  if (checkpoint === null)
    return new InterruptedError(
      signal,
      null,
      `Interrupted by ${signal} before any checkpoint existed (${why}): there is nothing to resume; start the run again`,
    );
  if (kind === 'saved')
    return new InterruptedError(
      signal,
      checkpoint,
      `Interrupted by ${signal}: a checkpoint at step ${checkpoint.globalStep} was saved (${checkpoint.path})`,
    );
  return new InterruptedError(
    signal,
    checkpoint,
    `Interrupted by ${signal}: the state could not be saved now (${why}); the newest checkpoint is step ${checkpoint.globalStep} (${checkpoint.path})`,
  );
}

/**
 * Whether the run's failure `err` ends as a stop with a checkpoint: a stop was requested
 * (`stopSignal`) and `err` is that stop, noticed at a step boundary or when the grace ran out, or
 * a group failure (the stop aborted a wait, or a worker leaving on the same signal broke the group).
 */
export function endsAsStop(stopSignal: NodeJS.Signals | null, err: unknown): boolean {
  return stopSignal !== null && (err instanceof StopRequestedError || isGroupFailure(err));
}

/** The `failed` event's code and message for the error that ends the run. */
export function failure(err: unknown): { code: string; message: string } {
  return { code: (err as { code?: string }).code ?? 'UNKNOWN', message: err instanceof Error ? err.message : String(err) };
}

/** What the group still formed is told when the run ends with `message`: `roundAbort` for a round in progress, then `leave` (shutdown). */
export function farewell(message: string, roundInProgress: number | null): { roundAbort: RoundAbort | null; leave: Leave } {
  return {
    roundAbort: roundInProgress === null ? null : { type: 'roundAbort', round: roundInProgress, reason: message.slice(0, 1024) },
    leave: { type: 'leave', reason: 'shutdown', message: message.slice(0, 4096) },
  };
}

/** The newest good checkpoint in `store` (null: none, or no store yet), as the stop message names it. */
export async function newestCheckpointIn(store: CheckpointStore | null): Promise<CheckpointRef | null> {
  const loaded = store === null ? null : await store.loadLatestGood();
  return loaded === null
    ? null
    : { globalStep: (loaded.state.meta as unknown as RunCheckpointMeta).position.globalStep, path: loaded.path };
}

/**
 * Workers of a run that no formed generation holds: the group of a formation that failed (not
 * yet detached), or the members waiting for the next formation (survivors and joiners).
 */
export type LeftBehind = { group: WorkerGroup } | { members: readonly Candidate[] };

/** What {@link endFailedRun} needs from the run. */
export interface FailedRunContext {
  stop: GracefulStop;
  /** The current generation; null when none was formed yet. */
  generation: Generation | null;
  /** The round whose step was in flight, if any. */
  roundInProgress: number | null;
  /** Workers no formed generation holds (RunExecutor.leftBehind): told to leave too. */
  leftBehind: LeftBehind | null;
  /** Set once the run folder is ready: what a stop saves with. */
  saving: { writeCheckpoint: WriteCheckpoint; store: CheckpointStore } | null;
  hardAbort: Promise<never>;
  /** --stop-grace-ms: with at least 5 s, how long a worker may take to send its state. */
  stopGraceMs: number;
  log: Logger;
  events: RunEvents;
  now: () => number;
}

/**
 * The coordinator's catch path for `caught`: after a stop request, save a checkpoint and end with
 * `InterruptedError` instead; emit `failed`; abort the round in flight and tell the group still
 * formed to leave (or, with none, the workers left behind). Returns the error the run ends with
 * (never throws).
 */
export async function endFailedRun(caught: unknown, context: FailedRunContext): Promise<unknown> {
  let err = caught;
  let roundInProgress = context.roundInProgress;
  if (context.stop.signal !== null && endsAsStop(context.stop.signal, err)) {
    err = await stopWithCheckpoint({
      signal: context.stop.signal,
      generation: context.generation,
      roundInProgress,
      writeCheckpoint: context.saving?.writeCheckpoint ?? null,
      newestCheckpoint: () => newestCheckpointIn(context.saving?.store ?? null),
      hardAbort: context.hardAbort,
      snapshotTimeoutMs: Math.max(5000, context.stopGraceMs),
      log: context.log,
    });
    // Aborted (and its grace spent) by the stop itself.
    roundInProgress = null;
  }
  const { code, message } = failure(err);
  context.events.emit({ kind: 'failed', atMs: context.now(), code, message });
  const last = context.generation;
  const { roundAbort, leave } = farewell(message, roundInProgress);
  if (last !== null && !last.group.isDetached) {
    if (roundAbort !== null) last.group.broadcast(roundAbort);
    await last.group.close(leave).catch(() => undefined);
  } else if (context.leftBehind !== null) {
    // A formation that failed, or the survivors waiting for the next one: told, so none dials back in vain.
    if ('group' in context.leftBehind) await context.leftBehind.group.close(leave).catch(() => undefined);
    else shutDown(context.leftBehind.members, message, 1000, leave.reason);
  }
  return err;
}
