// The executor of the run machine's actions (steps 2-6 of coordinator.ts): it holds what the
// actions change (the generation, its members, the state the next one starts from, the round in
// flight, the evaluation ids) and performs each action that waits for the workers: form a
// generation, recover from a broken one, a step, an evaluation, a checkpoint, admitting joiners,
// and the reports. Each outcome comes back as the machine's next event; a `GroupFailure` becomes
// `groupFailed`/`formFailed`, so only bugs and the run's end are thrown.
import type { Logger } from 'pino';
import { CIFAR10_CLASSES } from '@gnet/data';
import { perClassAccuracy, type CheckpointStore, type RunFolder } from '@gnet/run-store';
import type { WriteCheckpoint } from './checkpoint_writer.js';
import type { CoordinatorConfig } from './coordinator_config.js';
import { isGroupFailure } from './errors.js';
import { formGeneration, generationOf, type Generation, type StartState } from './generation.js';
import { announceGeneration, checkpointSnapshot, evaluate, formedGeneration } from './group_work.js';
import type { Recovery } from './recovery.js';
import type { Rendezvous } from './rendezvous.js';
import type { RoundIds } from './round_ids.js';
import type { RunEvents } from './run_events.js';
import type { RunAction, RunMachineEvent } from './run_machine_types.js';
import type { SplitFacts } from './run_plan.js';
import { recordEpoch, reportStep } from './run_reports.js';
import type { LeftBehind } from './stop_checkpoint.js';
import type { Candidate } from './worker_group.js';

/** Options of {@link RunExecutor}. */
export interface RunExecutorOptions {
  cfg: CoordinatorConfig;
  /** The coordinator's logger (`module: coordinator`). */
  log: Logger;
  /** The process's root logger: generations take their own children of it. */
  rootLog: Logger;
  events: RunEvents;
  now: () => number;
  /** Log ~10 `round done` lines per epoch at info (else at debug). */
  stepLogs: boolean;
  rendezvous: Rendezvous;
  recovery: Recovery;
  rounds: RoundIds;
  facts: SplitFacts;
  stepsPerEpoch: number;
  runId: string;
  folder: RunFolder;
  store: CheckpointStore;
  writeCheckpoint: WriteCheckpoint;
  /** Rejects when waits with work in flight must end (a second signal, or --stop-grace-ms after a stop). */
  aborted: Promise<never>;
  /** The first generation's members. */
  members: Candidate[];
  /** The state the first generation starts from. */
  state: StartState;
}

/** Performs the run machine's actions; see the file header. */
export class RunExecutor {
  /** The current generation; null until the first is formed. */
  generation: Generation | null = null;
  /** The round whose step is in flight (aborted on a failure or a stop). */
  roundInProgress: number | null = null;
  /** Generation numbers handed out so far (a formation that failed used one too). */
  generations = 0;
  private members: Candidate[];
  /** The state the next generation starts from (tensors: never held by the machine). */
  private state: StartState;
  /** The generation a failed formation left behind (recovery detaches its survivors). */
  private broken: Generation | null = null;
  private evalId = 0;
  private readonly logEvery: number;

  constructor(private readonly options: RunExecutorOptions) {
    this.members = options.members;
    this.state = options.state;
    this.logEvery = Math.max(1, Math.floor(options.stepsPerEpoch / 10));
  }

  /**
   * The workers a failed run must still tell to leave when no live generation holds them (null
   * when one does: it is closed as the run's generation).
   */
  leftBehind(): LeftBehind | null {
    if (this.generation !== null && !this.generation.group.isDetached) return null;
    if (this.broken !== null && !this.broken.group.isDetached) return { group: this.broken.group };
    return { members: this.members };
  }

  /** The current generation; throws before the first is formed (a bug: the machine forms first). */
  current(): Generation {
    if (this.generation === null) throw new Error('no generation formed yet');
    return this.generation;
  }

  /** Performs one action that waits for the workers; returns the outcome as the machine's next event. */
  async perform(action: RunAction): Promise<RunMachineEvent | null> {
    const { cfg, log, events, now, folder, rounds, recovery } = this.options;
    switch (action.kind) {
      case 'form':
        try {
          this.generation = await formGeneration({
            cfg,
            members: this.members,
            generation: this.generations++,
            runId: this.options.runId,
            facts: this.options.facts,
            state: this.state,
            stepsPerEpoch: this.options.stepsPerEpoch,
            // The weights check's round: from `RoundIds`, never reused.
            checkRound: rounds.next(),
            log: this.options.rootLog,
            aborted: this.options.aborted,
            onLost: (rank, workerId, reason) => events.emit({ kind: 'membership', atMs: now(), event: 'lost', workerId, rank, reason }),
          });
          announceGeneration(this.generation, {
            globalStep: this.state.globalStep,
            stepsPerEpoch: this.options.stepsPerEpoch,
            events,
            log,
            atMs: now(),
          });
          return { kind: 'formed', ...formedGeneration(this.generation) };
        } catch (err) {
          if (!isGroupFailure(err)) throw err;
          this.broken = generationOf(err);
          return { kind: 'formFailed', error: err };
        }
      case 'recover': {
        const afterForm = action.snapshotFrom === 'none';
        const next = await recovery.recover(afterForm ? this.broken! : this.current(), action.error, {
          snapshotFrom: action.snapshotFrom,
          state: this.state,
          globalStep: action.globalStep,
          roundInProgress: afterForm ? undefined : this.roundInProgress,
          lastCheckpoint: () => this.options.store.loadLatestGood(log),
        });
        this.roundInProgress = null;
        this.members = next.members;
        this.state = next.state;
        return { kind: 'recovered', globalStep: this.state.globalStep, rolledBackTo: next.rolledBackTo };
      }
      case 'stepDone':
        reportStep(action, this.current(), {
          events,
          log,
          atMs: now(),
          infoLine: this.options.stepLogs && (action.step + 1) % this.logEvery === 0,
        });
        return null;
      case 'epochDone':
        await recordEpoch(action.record, action.epochs, this.current(), { events, folder, log, atMs: now() });
        return null;
      case 'rewriteMetrics':
        await folder.rewriteMetrics([...action.epochs]);
        return null;
      case 'refuse': {
        const current = this.current();
        for (const { rank, error } of action.refusals) current.group.refuse(rank, error);
        return { kind: 'groupFailed', error: current.group.failedWith! };
      }
      case 'finish':
      case 'fail':
        throw new Error(`action '${action.kind}' is the executor's to end the run with`);
      default:
        try {
          return await this.performGroupWork(action);
        } catch (err) {
          if (!isGroupFailure(err)) throw err;
          return { kind: 'groupFailed', error: err };
        }
    }
  }

  /** The actions that wait for the group; a broken generation throws a `GroupFailure`. */
  private async performGroupWork(
    action: Extract<RunAction, { kind: 'startRound' | 'evaluate' | 'checkpoint' | 'admit' }>,
  ): Promise<RunMachineEvent> {
    const { cfg, log, events, now, rounds, recovery, rendezvous, stepsPerEpoch } = this.options;
    const generation = this.current();
    switch (action.kind) {
      case 'startRound': {
        // 3. One step.
        const round = rounds.next();
        const { epoch, step, globalStep, lr } = action;
        generation.group.setPhase(`round ${round} (epoch ${epoch}, step ${step})`);
        const started = performance.now();
        this.roundInProgress = round;
        generation.group.broadcast({ type: 'roundStart', round, epoch, step, globalStep, lr });
        const metrics = await generation.together(
          generation.hubRound('grad', round),
          generation.group.collect('metrics', { timeoutMs: cfg.roundTimeoutMs, match: (m) => m.round === round }),
        );
        this.roundInProgress = null;
        return { kind: 'roundDone', round, metrics, roundMs: performance.now() - started };
      }
      case 'evaluate': {
        // 4. (and 5.) One sharded evaluation, BatchNorm statistics averaged first if the weights moved.
        const { split, epoch } = action;
        const totals = await evaluate(generation, {
          split,
          epoch,
          averageBatchNorm: action.averageBatchNorm,
          evalId: this.evalId++,
          rounds,
          cfg,
        });
        events.emit({
          kind: 'evaluation',
          atMs: now(),
          split,
          epoch,
          loss: totals.lossSum / totals.count,
          accuracy: totals.correct / totals.count,
          count: totals.count,
          perClassAccuracy: perClassAccuracy(CIFAR10_CLASSES, totals),
          confusion: totals.confusion,
        });
        return { kind: 'evaluated', totals };
      }
      case 'checkpoint': {
        const snapshot = await checkpointSnapshot(generation, action.globalStep, stepsPerEpoch, cfg.roundTimeoutMs);
        await this.options.writeCheckpoint(snapshot, generation, action.globalStep);
        return { kind: 'checkpointed', globalStep: action.globalStep };
      }
      case 'admit': {
        // Workers waiting to join come in at this step boundary.
        log.info(
          { waiting: rendezvous.pendingCount, worldSize: generation.plan.worldSize, globalStep: action.globalStep },
          'admitting joining workers at a step boundary',
        );
        const next = await recovery.admit(generation, action.globalStep);
        this.members = next.members;
        this.state = next.state;
        return { kind: 'admitted' };
      }
    }
  }
}
