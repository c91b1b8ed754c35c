// The coordinator's run logic as a pure state machine: `handle(event)` returns the actions to
// perform (run_machine_types.ts), with no I/O, timers or clock, so every path of a run (rounds,
// evaluations, checkpoints, joins, losses, re-formations, divergence, stops) is unit-tested in
// milliseconds (run_machine.test.ts). coordinator.ts is its executor: it owns the sockets, the
// group, the run folder and the time, performs the actions and hands their outcomes back.
//
// The decisions at each step boundary (`advance`), in order, as steps 3-6 at the top of
// coordinator.ts describe them: a stop request ends the run; an epoch that ended is evaluated on
// the validation split, recorded and checkpointed; after the last epoch the test split is
// evaluated and the run finishes; waiting workers are admitted (a new generation); else the next
// step's round starts. A broken generation is recovered from and re-formed, up to --max-reforms
// times in a row without a completed step.
import { EpochMeter, epochRecord, learningRateAt, testRecord, type EpochRecord } from '@gnet/run-store';
import { NoProgressError, TrainingDivergedError, type GroupFailure } from './errors.js';
import { StopRequestedError } from './graceful_stop.js';
import type { FormedGeneration, RunAction, RunMachineEvent, RunMachineOptions, RunRecords, StepSummary } from './run_machine_types.js';
import { checkStepMetrics, stepSkipped } from './step_metrics_check.js';

/** What the machine waits for; each outcome event is accepted only in its phase. */
type Phase =
  | { kind: 'idle' }
  | { kind: 'forming' }
  | { kind: 'round'; epoch: number; step: number; globalStep: number; lr: number }
  /** Refused ranks: the executor reports the broken generation next. */
  | { kind: 'refusing' }
  | { kind: 'evaluating'; split: 'val' | 'test'; epoch: number }
  /** `then`: the error that ends the run once the checkpoint is written (divergence). */
  | { kind: 'checkpointing'; globalStep: number; then: Error | null }
  | { kind: 'admitting' }
  /** `afterFormFailure`: the generation broke while forming (its own attempt count). */
  | { kind: 'recovering'; error: GroupFailure; afterFormFailure: boolean }
  | { kind: 'ended' };

/** An event the machine cannot take in its phase: a bug of the executor, never of a worker. */
export class RunMachineStateError extends Error {
  override readonly name = 'RunMachineStateError';
}

export class RunMachine {
  private phase: Phase = { kind: 'idle' };
  private globalStepNow = 0;
  private epochRecords: EpochRecord[] = [];
  /** The epoch's training figures; kept in checkpoints, so a resumed epoch's record covers all of it. */
  private meter = new EpochMeter();
  private group: FormedGeneration | null = null;
  private skippedInARow = 0;
  /** Re-formations after a broken generation since the last completed step. */
  private reformsWithoutProgress = 0;
  /** Failed formations in a row (a generation that breaks while forming). */
  private formAttempts = 0;
  private lastLr = 0;
  /** The weights moved since BatchNorm statistics were last averaged. */
  private batchNormDirty = true;
  private workersWaiting = 0;
  private stopSignal: NodeJS.Signals | null = null;

  constructor(private readonly options: RunMachineOptions) {}

  /** The global step the run trains next. */
  get globalStep(): number {
    return this.globalStepNow;
  }

  /** Finished epochs' records and the current epoch's figures: what a checkpoint's meta keeps. */
  get records(): RunRecords {
    return { epochs: [...this.epochRecords], epochSoFar: this.meter.state() };
  }

  get totalSteps(): number {
    return this.options.epochs * this.options.stepsPerEpoch;
  }

  /** The run's reply to `event`; see run_machine_types.ts. Throws `RunMachineStateError` for an event out of turn. */
  handle(event: RunMachineEvent): RunAction[] {
    switch (event.kind) {
      case 'workersWaiting':
        this.workersWaiting = event.count;
        return [];
      case 'stopRequested':
        this.stopSignal ??= event.signal;
        return [];
      case 'started':
        this.expect(event, 'idle');
        this.globalStepNow = event.globalStep;
        this.epochRecords = [...event.epochs];
        this.meter = EpochMeter.restore(event.epochSoFar);
        return this.form();
      case 'formed': {
        this.expect(event, 'forming');
        const { kind: _kind, ...group } = event;
        this.group = group;
        this.formAttempts = 0;
        return this.advance();
      }
      case 'formFailed':
        this.expect(event, 'forming');
        if (this.stopSignal !== null) return this.fail(event.error);
        this.phase = { kind: 'recovering', error: event.error, afterFormFailure: true };
        return [{ kind: 'recover', snapshotFrom: 'none', globalStep: this.globalStepNow, error: event.error }];
      case 'roundDone':
        return this.roundDone(event);
      case 'groupFailed': {
        this.expect(event, 'round', 'refusing', 'evaluating', 'checkpointing', 'admitting');
        // Workers leaving while we stop (Slurm and Kubernetes signal every task at once): stop, don't re-form.
        if (this.stopSignal !== null) return this.fail(event.error);
        this.reformsWithoutProgress += 1;
        if (this.reformsWithoutProgress > this.options.maxReforms)
          return this.fail(this.noProgress(this.reformsWithoutProgress - 1, event.error));
        this.phase = { kind: 'recovering', error: event.error, afterFormFailure: false };
        return [{ kind: 'recover', snapshotFrom: 'survivor', globalStep: this.globalStepNow, error: event.error }];
      }
      case 'recovered':
        return this.recovered(event);
      case 'evaluated':
        return this.evaluated(event);
      case 'checkpointed': {
        const phase = this.expect(event, 'checkpointing');
        if (event.globalStep !== phase.globalStep)
          throw new RunMachineStateError(`checkpointed must be for global step ${phase.globalStep}, but is for ${event.globalStep}`);
        return phase.then !== null ? this.fail(phase.then) : this.advance();
      }
      case 'admitted':
        this.expect(event, 'admitting');
        return this.form();
    }
  }

  /** The decisions at a step boundary (see the top of this file). */
  private advance(): RunAction[] {
    const stepsPerEpoch = this.options.stepsPerEpoch;
    const group = this.formed();
    if (this.stopSignal !== null) return this.fail(new StopRequestedError(this.stopSignal));
    const averageBatchNorm = this.batchNormDirty && group.batchNorm;
    if (this.epochRecords.length < Math.floor(this.globalStepNow / stepsPerEpoch)) {
      const epoch = this.epochRecords.length;
      this.phase = { kind: 'evaluating', split: 'val', epoch };
      return [{ kind: 'evaluate', split: 'val', epoch, averageBatchNorm }];
    }
    if (this.globalStepNow >= this.totalSteps) {
      const epoch = this.options.epochs - 1;
      this.phase = { kind: 'evaluating', split: 'test', epoch };
      return [{ kind: 'evaluate', split: 'test', epoch, averageBatchNorm }];
    }
    if (this.workersWaiting > 0 && group.workerIds.length < this.options.maxWorkers) {
      this.phase = { kind: 'admitting' };
      return [{ kind: 'admit', globalStep: this.globalStepNow }];
    }
    const globalStep = this.globalStepNow;
    const round = {
      epoch: Math.floor(globalStep / stepsPerEpoch),
      step: globalStep % stepsPerEpoch,
      globalStep,
      lr: learningRateAt(globalStep, group.schedule),
    };
    this.phase = { kind: 'round', ...round };
    return [{ kind: 'startRound', ...round }];
  }

  private roundDone(event: Extract<RunMachineEvent, { kind: 'roundDone' }>): RunAction[] {
    const phase = this.expect(event, 'round');
    const group = this.formed();
    const { round, metrics, roundMs } = event;
    // Metrics that disagree with what the rank was asked (a count of 1.4e17 images): refuse the
    // sender and re-form without it; every rank has applied the step, so nothing is lost.
    const refusals = checkStepMetrics(metrics, {
      round,
      epoch: phase.epoch,
      step: phase.step,
      worldSize: group.workerIds.length,
      globalBatch: group.globalBatch,
      roundMs,
    });
    if (refusals.length > 0) {
      this.phase = { kind: 'refusing' };
      return [{ kind: 'refuse', refusals }];
    }
    this.reformsWithoutProgress = 0;
    let skipped: boolean;
    try {
      skipped = stepSkipped(metrics, round);
    } catch (err) {
      return this.fail(err as Error);
    }
    this.skippedInARow = skipped ? this.skippedInARow + 1 : 0;
    if (!skipped) this.batchNormDirty = true;
    this.lastLr = phase.lr;
    const seconds = roundMs / 1000;
    this.meter.addRound(metrics, seconds, skipped);
    this.globalStepNow += 1;
    const summary: StepSummary = {
      round,
      epoch: phase.epoch,
      step: phase.step,
      globalStep: phase.globalStep,
      lr: phase.lr,
      skipped,
      metrics,
      seconds,
      generation: group.generation,
    };
    const done: RunAction = { kind: 'stepDone', ...summary };
    if (this.skippedInARow >= this.options.maxSkippedSteps) return [done, ...this.checkpoint(this.diverged(metrics))];
    const every = this.options.checkpointEverySteps;
    if (every > 0 && this.globalStepNow % every === 0 && this.globalStepNow % this.options.stepsPerEpoch !== 0)
      return [done, ...this.checkpoint(null)];
    return [done, ...this.advance()];
  }

  private evaluated(event: Extract<RunMachineEvent, { kind: 'evaluated' }>): RunAction[] {
    const phase = this.expect(event, 'evaluating');
    const group = this.formed();
    if (event.totals.split !== phase.split)
      throw new RunMachineStateError(`evaluated must sum the ${phase.split} split, but sums the ${event.totals.split} split`);
    this.batchNormDirty = false;
    if (phase.split === 'test') {
      this.phase = { kind: 'ended' };
      return [{ kind: 'finish', test: testRecord(this.options.classes, event.totals), epochs: [...this.epochRecords] }];
    }
    const record = epochRecord({
      epochIndex: phase.epoch,
      training: this.meter.result(),
      lr: this.lastLr,
      val: event.totals,
      worldSize: group.workerIds.length,
      generation: group.generation,
    });
    this.epochRecords = [...this.epochRecords, record];
    this.meter = new EpochMeter();
    return [{ kind: 'epochDone', record, epochs: [...this.epochRecords] }, ...this.checkpoint(null)];
  }

  private recovered(event: Extract<RunMachineEvent, { kind: 'recovered' }>): RunAction[] {
    const phase = this.expect(event, 'recovering');
    if (phase.afterFormFailure) {
      this.formAttempts += 1;
      if (this.formAttempts >= this.options.maxReforms) return this.fail(this.noProgress(this.formAttempts, phase.error));
      return this.form(false);
    }
    const actions: RunAction[] = [];
    if (event.globalStep < this.globalStepNow && event.rolledBackTo !== null) {
      // No survivor: back to the last checkpoint, its epoch records included.
      this.epochRecords = [...event.rolledBackTo.epochs];
      this.meter = EpochMeter.restore(event.rolledBackTo.epochSoFar);
      actions.push({ kind: 'rewriteMetrics', epochs: [...this.epochRecords] });
    }
    this.globalStepNow = event.globalStep;
    this.batchNormDirty = true;
    return [...actions, ...this.form()];
  }

  /** `resetAttempts`: a new formation (not a retry of one that failed). */
  private form(resetAttempts = true): RunAction[] {
    if (resetAttempts) this.formAttempts = 0;
    this.phase = { kind: 'forming' };
    return [{ kind: 'form' }];
  }

  private checkpoint(then: Error | null): RunAction[] {
    this.phase = { kind: 'checkpointing', globalStep: this.globalStepNow, then };
    return [{ kind: 'checkpoint', globalStep: this.globalStepNow }];
  }

  private fail(error: Error): RunAction[] {
    this.phase = { kind: 'ended' };
    return [{ kind: 'fail', error }];
  }

  private noProgress(reforms: number, last: Error): NoProgressError {
    return new NoProgressError(
      `The group was re-formed ${reforms} times in a row without completing a step (limit --max-reforms ${this.options.maxReforms}); last failure: ${last.message}`,
    );
  }

  /** The error that ends a run whose steps were skipped --max-skipped-steps times in a row. */
  private diverged(metrics: StepSummary['metrics']): TrainingDivergedError {
    const group = this.formed();
    // Divergence shows on every rank; a non-finite loss on some ranks only points at those workers.
    const suspects = metrics.flatMap((m, rank) => (Number.isFinite(m.loss) ? [] : [`rank ${rank} (worker '${group.workerIds[rank]}')`]));
    const advice =
      suspects.length > 0 && suspects.length < metrics.length
        ? `only ${suspects.join(', ')} computed a non-finite loss while the others' stayed finite: suspect that worker (its backend, hardware or data) before the learning rate; replace it and resume with --resume`
        : 'lower --lr and resume with --resume';
    return new TrainingDivergedError(
      `${this.skippedInARow} steps in a row (up to global step ${this.globalStepNow - 1}) had a NaN or infinite gradient and were skipped (limit --max-skipped-steps ${this.options.maxSkippedSteps}); a checkpoint was saved: ${advice}`,
    );
  }

  private formed(): FormedGeneration {
    if (this.group === null) throw new RunMachineStateError('no generation was formed yet');
    return this.group;
  }

  /** The phase, if it is one of `kinds`; else `RunMachineStateError` naming the event and the phase. */
  private expect<K extends Phase['kind']>(event: RunMachineEvent, ...kinds: K[]): Extract<Phase, { kind: K }> {
    if (!(kinds as Phase['kind'][]).includes(this.phase.kind))
      throw new RunMachineStateError(`event '${event.kind}' must arrive while ${kinds.join(' or ')}, but the run is ${this.phase.kind}`);
    return this.phase as Extract<Phase, { kind: K }>;
  }
}
