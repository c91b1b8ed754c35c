// The last act of a run stopped by SIGINT/SIGTERM (graceful_stop.ts): abort the round still
// running (its grace ran out), take the state of one worker (alive first, then one that is leaving
// on its own signal and still answers), write it as a checkpoint, and describe truthfully what
// `--resume` will continue from. Every wait is bounded; a second signal (hardAbort) ends it at once.
import type { Logger } from 'pino';
import type { StateSnapshot } from '@gnet/protocol';
import { InterruptedError } from './errors.js';
import type { Generation } from './generation.js';

/** What {@link stopWithCheckpoint} needs from the run. */
export interface StopContext {
  signal: NodeJS.Signals;
  /** The current generation; null when none was formed yet. */
  generation: Generation | null;
  /** The round whose step was in progress (its grace ran out), if any. */
  roundInProgress: number | null;
  /** Writes a snapshot as checkpoints/ckpt-<step>.ckpt and returns its path; null before the run folder is ready. */
  writeCheckpoint: ((snapshot: StateSnapshot, g: Generation, globalStep: number) => Promise<string>) | null;
  /** The newest good checkpoint on disk (this life's or an earlier one's), for the message. */
  newestCheckpoint: () => Promise<{ globalStep: number; path: string } | null>;
  /** Rejects on a second signal: give up on saving. */
  hardAbort: Promise<never>;
  /** How long one worker may take to send its state. */
  snapshotTimeoutMs: number;
  log: Logger;
}

/** Saves what can be saved and returns the `InterruptedError` that ends the run (never throws otherwise). */
export async function stopWithCheckpoint(c: StopContext): Promise<InterruptedError> {
  const { signal, log } = c;
  let hard = false;
  c.hardAbort.catch(() => (hard = true));
  const g = c.generation;
  let saved: { globalStep: number; path: string } | null = null;
  let why = '';
  if (g === null || g.group.isDetached || c.writeCheckpoint === null) {
    why = 'no group was training';
  } else {
    const { group } = g;
    const aborting = new Error(`the coordinator is stopping (${signal})`);
    if (c.roundInProgress !== null) {
      group.broadcast({
        type: 'roundAbort',
        round: c.roundInProgress,
        reason: `the coordinator is stopping (${signal}); --stop-grace-ms ran out`,
      });
      log.info({ round: c.roundInProgress }, 'stop: the step in progress did not finish within --stop-grace-ms; aborted it');
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
          group.requestSnapshot(rank, { globalStep: 0, timeoutMs: c.snapshotTimeoutMs, phase, fromLeaving: leaving }),
          c.hardAbort,
        ]);
        const path = await c.writeCheckpoint(snapshot, g, snapshot.nextGlobalStep);
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
  if (saved !== null)
    return new InterruptedError(
      signal,
      saved,
      `Interrupted by ${signal}: a checkpoint at step ${saved.globalStep} was saved (${saved.path})`,
    );
  const newest = await c.newestCheckpoint().catch(() => null);
  if (newest !== null)
    return new InterruptedError(
      signal,
      newest,
      `Interrupted by ${signal}: the state could not be saved now (${why}); the newest checkpoint is step ${newest.globalStep} (${newest.path})`,
    );
  return new InterruptedError(
    signal,
    null,
    `Interrupted by ${signal} before any checkpoint existed (${why}): there is nothing to resume; start the run again`,
  );
}
