// What the coordinator does when a generation breaks (step 6 of coordinator.ts) or a worker waits
// to join: choose who goes on, take the state the next generation starts from, and hand the
// survivors' sockets over. Like torchrun's elastic agent, but without restarting anyone: the
// survivors keep their processes, models and data, and one of them sends its state.
//
//  1. `roundAbort` to everyone if a round was running; after a `roundFailed`, a short grace so
//     the socket close of the rank that really died arrives before we decide.
//  2. Drop the lost ranks, and evict (`leave` evicted) those that timed out: a frozen or stuck
//     worker, alive on the socket but not answering. An evicted worker that wakes up rejoins.
//     Evict too the sender of a malformed ring frame, as the rank that received it reports
//     (blame.ts; the star hub evicts such a sender itself, generation.ts).
//  3. The state: `checkpointRequest` to the first survivor (then the next, if it fails too; then
//     workers leaving deliberately on SIGINT/SIGTERM, which still answer). Its
//     `stateSnapshot.nextGlobalStep` says whether it applied the aborted round; every member of
//     the next generation gets this one state, so replicas stay identical either way. No survivor:
//     the last good checkpoint (or the seed).
//  4. Members of the next generation: the survivors in rank order, then waiting workers, up to
//     --max-workers. Below --min-workers, save the state as a checkpoint at once (whatever happens
//     next, nothing is lost), wait --rejoin-timeout-ms for replacements (heartbeating the survivors
//     meanwhile), then stop with `TooFewWorkersError`, saying which checkpoint resumes the run.
// The decisions of steps 3-4 are recovery_decisions.ts's (pure, unit-tested); this class waits and sends.
import type { Logger } from 'pino';
import type { StateSnapshot } from '@gnet/protocol';
import { ControlChannel } from '@gnet/collective';
import type { EpochRecord, LoadedCheckpoint } from '@gnet/run-store';
import type { CoordinatorConfig } from './coordinator_config.js';
import { PhaseTimeoutError, RoundFailedError, isGroupFailure, type GroupFailure } from './errors.js';
import type { Generation, StartState } from './generation.js';
import type { Rendezvous } from './rendezvous.js';
import { replacementsNeeded, resumeAdvice, startOf, stateAfterLoss, tooFewWorkersError } from './recovery_decisions.js';
import { shutDown, type Candidate } from './worker_group.js';
import { malformedFrameSenders } from './blame.js';

/** Options of {@link Recovery}. */
export interface RecoveryOptions {
  cfg: CoordinatorConfig;
  log: Logger;
  rendezvous: Rendezvous;
  aborted: Promise<never>;
  /** Saves `state` as a checkpoint below --min-workers; returns its path. */
  saveBelowMinimum?: (state: StateSnapshot, generation: Generation) => Promise<string>;
}

/** Who forms the next generation, and from which state. */
export interface NextGeneration {
  members: Candidate[];
  state: StartState;
  /** Set when no survivor had a state and the run went back to a checkpoint (or the start). */
  rolledBackTo: { epochs: EpochRecord[]; epochSoFar: unknown } | null;
}

/** How `recover` finds the next state. */
export interface RecoverContext {
  /** `survivor`: ask a survivor; `none`: keep `state` (the generation failed while forming). */
  snapshotFrom: 'survivor' | 'none';
  state: StartState;
  globalStep: number;
  roundInProgress?: number | null;
  lastCheckpoint?: () => Promise<LoadedCheckpoint | null>;
}

export class Recovery {
  constructor(private readonly options: RecoveryOptions) {}

  /** Re-forms after `err` broke the `broken` generation; see the steps at the top of this file. */
  async recover(broken: Generation, err: GroupFailure, ctx: RecoverContext): Promise<NextGeneration> {
    const { cfg, log } = this.options;
    const started = performance.now();
    const { group } = broken;
    log.warn(
      {
        generation: group.generation,
        code: err.code,
        reason: err.message,
        lost: Object.fromEntries(group.lost),
        globalStep: ctx.globalStep,
      },
      'generation broken; re-forming the group',
    );
    // 1.
    if (ctx.roundInProgress !== null && ctx.roundInProgress !== undefined)
      group.broadcast({ type: 'roundAbort', round: ctx.roundInProgress, reason: err.message.slice(0, 1024) });
    if (err instanceof RoundFailedError && group.lost.size === 0) await sleep(Math.min(2000, cfg.heartbeatMs));
    // 2.
    if (err instanceof PhaseTimeoutError)
      for (const rank of err.missingRanks)
        if (!group.lost.has(rank)) group.evict(rank, `no answer within ${err.waitedMs} ms during ${err.phase}`);
    const failedRound = err instanceof RoundFailedError ? err.round : (ctx.roundInProgress ?? null);
    const culprits =
      failedRound === null
        ? []
        : malformedFrameSenders(group.roundFailures, {
            round: failedRound,
            worldSize: group.worldSize,
            algorithm: broken.plan.allReduce.algorithm,
          });
    for (const culprit of culprits) {
      if (group.lost.has(culprit.rank)) continue;
      const accuser = group.members[culprit.accusedBy]!.hello.workerId;
      group.evict(
        culprit.rank,
        `rank ${culprit.accusedBy} (worker '${accuser}') received a malformed frame from this rank in round ${failedRound}: ${culprit.reason}`,
        { code: 1008, reason: 'COLLECTIVE_BAD_FRAME' },
      );
    }
    // 3.
    let state = ctx.state;
    let rolledBackTo: NextGeneration['rolledBackTo'] = null;
    let snapshot: StateSnapshot | null = null;
    let loaded: LoadedCheckpoint | null = null;
    if (ctx.snapshotFrom === 'survivor') {
      group.clearQueues();
      for (const rank of group.aliveRanks) {
        snapshot = await this.snapshotOf(broken, rank, ctx.globalStep, false);
        if (snapshot !== null) break;
      }
      // Everyone left or died: a worker leaving deliberately still holds the state.
      for (const rank of snapshot === null ? group.leavingRanks : []) {
        snapshot = await this.snapshotOf(broken, rank, ctx.globalStep, true);
        if (snapshot !== null) break;
      }
      if (snapshot === null) loaded = (await ctx.lastCheckpoint?.()) ?? null;
      ({ state, rolledBackTo } = stateAfterLoss(snapshot, loaded));
      if (snapshot !== null)
        log.info({ globalStep: state.globalStep, appliedAbortedRound: state.globalStep > ctx.globalStep }, 'took the state of a survivor');
    }
    // 4.
    const members = group.detach();
    members.push(...this.takeJoiners(members.length));
    if (replacementsNeeded(members.length, cfg.minWorkers) > 0) {
      /** The survivor's state saved at once (whatever happens next, nothing is lost); the give-up message points to it. */
      let saved: { globalStep: number; path: string } | null = null;
      if (snapshot !== null && this.options.saveBelowMinimum !== undefined)
        saved = { globalStep: snapshot.nextGlobalStep, path: await this.options.saveBelowMinimum(snapshot, broken) };
      log.warn(
        { survivors: members.length, minWorkers: cfg.minWorkers, waitMs: cfg.rejoinTimeoutMs },
        'below --min-workers; waiting for replacements',
      );
      // Send-only channels: what the survivors send keeps collecting for the next hand-over.
      const keepAlive = members.map((m) => new ControlChannel({ socket: m.socket }));
      for (const channel of keepAlive) channel.startHeartbeat(cfg.heartbeatMs);
      try {
        await this.options.rendezvous.waitForPending(cfg.minWorkers - members.length, cfg.rejoinTimeoutMs, this.options.aborted);
      } catch (err) {
        // Stopped while waiting (a signal): the survivors belong to no group any more; tell them here.
        shutDown(
          members,
          `the coordinator stopped while waiting for replacements: ${err instanceof Error ? err.message : String(err)}`,
          1001,
          'coordinator stopping',
        );
        throw err;
      } finally {
        for (const channel of keepAlive) channel.release();
      }
      members.push(...this.takeJoiners(members.length));
      const open = members.filter((m) => m.socket.readyState === m.socket.OPEN);
      if (replacementsNeeded(open.length, cfg.minWorkers) > 0) {
        const last = saved !== null ? null : (loaded ?? (await ctx.lastCheckpoint?.()) ?? null);
        const tooFew = tooFewWorkersError(open.length, cfg, resumeAdvice(saved, last));
        shutDown(open, tooFew.message, 1000, 'too few workers');
        throw tooFew;
      }
    }
    // Said only now that the run goes on from it.
    if (rolledBackTo !== null) {
      if (loaded !== null)
        log.warn({ checkpoint: loaded.path, globalStep: state.globalStep }, 'no survivor holds the state; back to the last checkpoint');
      else log.warn('no survivor holds the state and there is no checkpoint; starting over from the seed');
    }
    log.info(
      { members: members.map((m) => m.hello.workerId), globalStep: state.globalStep, recoveryMs: Math.round(performance.now() - started) },
      'next generation chosen',
    );
    return { members, state, rolledBackTo };
  }

  /** Admits waiting workers at a step boundary: rank 0's state, then survivors plus joiners. */
  async admit(current: Generation, globalStep: number): Promise<{ members: Candidate[]; state: StartState }> {
    const snapshot = await this.snapshotOrThrow(current, 0, globalStep);
    const members = current.group.detach();
    members.push(...this.takeJoiners(members.length));
    return { members, state: startOf(snapshot) };
  }

  private takeJoiners(present: number): Candidate[] {
    const room = Math.max(0, this.options.cfg.maxWorkers - present);
    const pending = this.options.rendezvous.takePending();
    // Beyond --max-workers (cannot happen while the rendezvous enforces it): refuse politely.
    for (const extra of pending.slice(room)) extra.socket.close(1008, 'GROUP_FULL');
    return pending.slice(0, room);
  }

  /** `stateSnapshot` of `rank`, or null (and the rank evicted) when it fails to send one. */
  private async snapshotOf(generation: Generation, rank: number, globalStep: number, leaving: boolean): Promise<StateSnapshot | null> {
    try {
      return await this.snapshotOrThrow(generation, rank, globalStep, leaving);
    } catch (err) {
      if (!isGroupFailure(err)) throw err;
      this.options.log.warn({ rank, reason: err.message }, 'survivor could not send its state');
      if (!generation.group.lost.has(rank)) generation.group.evict(rank, `no state snapshot: ${err.message}`);
      return null;
    }
  }

  private snapshotOrThrow(generation: Generation, rank: number, globalStep: number, leaving = false): Promise<StateSnapshot> {
    const phase = `state snapshot from rank ${rank} at step ${globalStep}`;
    return generation.together(
      Promise.resolve(),
      generation.group.requestSnapshot(rank, { globalStep, timeoutMs: this.options.cfg.roundTimeoutMs, phase, fromLeaving: leaving }),
    );
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
