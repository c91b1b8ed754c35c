// The vocabulary of the run machine (run_machine.ts): the events the executor (coordinator.ts)
// hands it, each the outcome of I/O or a fact of the outside world, and the actions it returns.
// Plain data only: sockets, tensors, files and clocks stay in the executor.
import type { Metrics } from '@gnet/protocol';
import type { EpochMeterState, EpochRecord, LrSchedule, TestRecord, TrainingEpochRecord } from '@gnet/run-store';
import type { GroupFailure } from './errors.js';
import type { EvalTotals } from './evaluation.js';
import type { MetricsRefusal } from './step_metrics_check.js';

/** The run's shape and limits, fixed for its whole life. */
export interface RunMachineOptions {
  stepsPerEpoch: number;
  epochs: number;
  /** --max-workers: joiners are admitted while the group is smaller. */
  maxWorkers: number;
  /** --max-skipped-steps: this many non-finite gradients in a row stop the run with a checkpoint. */
  maxSkippedSteps: number;
  /** --max-reforms: re-formations in a row without a completed step before the run gives up. */
  maxReforms: number;
  /** --checkpoint-every-steps (0: at epoch ends only). */
  checkpointEverySteps: number;
  /** Class names, in label order, for the test record. */
  classes: readonly string[];
}

/** Where a run starts: global step 0 with nothing recorded, or a checkpoint's position and records (--resume). */
export interface RunStart {
  globalStep: number;
  epochs: readonly EpochRecord[];
  /** The checkpoint's `epochSoFar` (anything else starts the epoch's figures afresh). */
  epochSoFar: unknown;
}

/** What a formed generation looks like to the machine. */
export interface FormedGeneration {
  generation: number;
  /** Worker ids by rank (named in the divergence advice). */
  workerIds: readonly string[];
  /** The model has BatchNorm statistics to average before an evaluation. */
  batchNorm: boolean;
  /** Samples of one step over all ranks. */
  globalBatch: number;
  schedule: LrSchedule;
}

/** Events, in the order the executor learns them. */
export type RunMachineEvent =
  | ({ kind: 'started' } & RunStart)
  | ({ kind: 'formed' } & FormedGeneration)
  /** Forming the generation failed (a rank lost or silent during the weights check). */
  | { kind: 'formFailed'; error: GroupFailure }
  /** Every rank's `metrics` of `round`, in rank order; `roundMs` on the coordinator's clock. */
  | { kind: 'roundDone'; round: number; metrics: readonly Metrics[]; roundMs: number }
  /** The generation broke during a round, an evaluation, a checkpoint or an admission. */
  | { kind: 'groupFailed'; error: GroupFailure }
  /** The summed `evalResult`s of the evaluation asked for. */
  | { kind: 'evaluated'; totals: EvalTotals }
  | { kind: 'checkpointed'; globalStep: number }
  /** Rank 0's state was taken and the joiners are in the next generation's members. */
  | { kind: 'admitted' }
  /** The next generation's members and state are chosen; it starts at `globalStep`. */
  | {
      kind: 'recovered';
      globalStep: number;
      /** Set when no survivor held the state and the run went back to a checkpoint (or the start). */
      rolledBackTo: { epochs: readonly EpochRecord[]; epochSoFar: unknown } | null;
    }
  /** How many accepted workers wait to join (synced before every other event). */
  | { kind: 'workersWaiting'; count: number }
  /** SIGINT/SIGTERM: the run stops at the next step boundary. */
  | { kind: 'stopRequested'; signal: NodeJS.Signals };

/** What one step did, for the log and the live feed. */
export interface StepSummary {
  round: number;
  epoch: number;
  step: number;
  /** The global step this round trained. */
  globalStep: number;
  lr: number;
  skipped: boolean;
  metrics: readonly Metrics[];
  seconds: number;
  generation: number;
}

/**
 * Actions, performed in order. The last action of a list is the one whose outcome is the next
 * event (`form`, `startRound`, `refuse`, `evaluate`, `checkpoint`, `admit`, `recover`) or ends
 * the run (`finish`, `fail`); the ones before it only record (`stepDone`, `epochDone`, `rewriteMetrics`).
 */
export type RunAction =
  /** Form the next generation from the members and state at hand. */
  | { kind: 'form' }
  | { kind: 'startRound'; epoch: number; step: number; globalStep: number; lr: number }
  /** Refuse these ranks (protocol error, socket closed); the generation is broken: report `groupFailed`. */
  | { kind: 'refuse'; refusals: readonly MetricsRefusal[] }
  | ({ kind: 'stepDone' } & StepSummary)
  /** Evaluate `split` sharded over the group, after a BatchNorm statistics average when `averageBatchNorm`. */
  | { kind: 'evaluate'; split: 'val' | 'test'; epoch: number; averageBatchNorm: boolean }
  /** Append the finished epoch's record (metrics.jsonl, chart, live feed). */
  | { kind: 'epochDone'; record: TrainingEpochRecord; epochs: readonly EpochRecord[] }
  /** Take rank 0's state and write it as the checkpoint of `globalStep`. */
  | { kind: 'checkpoint'; globalStep: number }
  /** Take rank 0's state and add the waiting workers to the next generation's members. */
  | { kind: 'admit'; globalStep: number }
  /**
   * Choose the next generation after `error` (recovery.ts): from a survivor's state (`survivor`),
   * or keeping the state at hand (`none`: the generation broke while forming).
   */
  | { kind: 'recover'; snapshotFrom: 'survivor' | 'none'; globalStep: number; error: GroupFailure }
  /** The run went back to a checkpoint: metrics.jsonl holds exactly `epochs` again. */
  | { kind: 'rewriteMetrics'; epochs: readonly EpochRecord[] }
  | { kind: 'finish'; test: TestRecord; epochs: readonly EpochRecord[] }
  | { kind: 'fail'; error: Error };

/** The machine's records, as a checkpoint's meta keeps them. */
export interface RunRecords {
  epochs: EpochRecord[];
  epochSoFar: EpochMeterState;
}
