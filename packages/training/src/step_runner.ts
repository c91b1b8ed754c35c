// One optimizer step, the same for `worker:train` and `worker:serve`:
//   zeroGrad → accumulate over micro-batches → reduce (a hook) → finiteness check → apply or skip.
// The reduce hook is the only thing that differs between the modes, like DDP's comm hooks: identity
// on one process, the all-reduce across ranks in a distributed worker. Because every rank checks
// the *reduced* gradient, every rank skips a non-finite step alike and the replicas stay identical.
import type { GradientStats, LocalBatch } from './gradients.js';
import type { Replica } from './replica.js';
import { DEFAULT_MAX_SKIPPED_STEPS } from '@gnet/recipe';

/** Sums `grads` across ranks in place (identity on one process); may throw (a failed all-reduce). */
export type GradientReduce = (grads: Float32Array) => Promise<void>;

/** The reduce hook of a single process: nothing to sum with. */
export const identityReduce: GradientReduce = () => Promise.resolve();

// Steps skipped in a row before training stops: the recipe's, which is also the coordinator's
// `--max-skipped-steps` default.
export { DEFAULT_MAX_SKIPPED_STEPS } from '@gnet/recipe';

/** Options of {@link StepRunner}. */
export interface StepRunnerOptions {
  replica: Replica;
  /** Largest number of images in one forward/backward pass. */
  microBatch: number;
  labelSmoothing: number;
  auxWeight: number;
  /** Images of one optimizer step over all ranks: the loss is scaled by 1 / globalBatch, so the reduced sum is the global mean gradient. */
  globalBatch: number;
  reduce: GradientReduce;
  /** Give the event loop a turn between micro-batches (a distributed worker, so heartbeats flow). */
  yieldBetweenMicroBatches: boolean;
  /**
   * Steps skipped in a row after which `run` throws `TooManySkippedStepsError` (default
   * {@link DEFAULT_MAX_SKIPPED_STEPS}); Infinity: never (a distributed worker, where the
   * coordinator counts and stops the run with a checkpoint).
   */
  maxSkippedSteps?: number;
}

/** Where a step is in the run, for messages. */
export interface StepPosition {
  epoch: number;
  step: number;
  globalStep: number;
}

/** Options of one {@link StepRunner.run}. */
export interface StepOptions {
  lr: number;
  /** Dropout seed of this rank's step ({@link dropoutSeed}). */
  seed: number;
  /** Fault injection: poison this rank's gradient and loss, as a faulty worker would. */
  poison?: boolean;
  /** Asked after the accumulation: true drops the step before the reduce (a round abort); the state is left as it was. */
  abandon?: () => boolean;
}

/** Wall-clock of one step's phases, `performance.now()` ms. */
export interface StepTimes {
  startMs: number;
  accumulatedMs: number;
  reducedMs: number;
  appliedMs: number;
}

/** What one step did. */
export interface StepResult {
  stats: GradientStats;
  /** Mean main-head loss over this rank's images (NaN when poisoned). */
  loss: number;
  /** True when the reduced gradient held a NaN or infinity and the update was skipped. */
  skipped: boolean;
  /** Steps skipped in a row up to and including this one. */
  skippedInARow: number;
  times: StepTimes;
}

/** Training stopped: too many steps in a row had a non-finite gradient. */
export class TooManySkippedStepsError extends Error {
  readonly code = 'TRAIN_DIVERGED';
  override readonly name = 'TooManySkippedStepsError';
  constructor(
    readonly skippedInARow: number,
    readonly limit: number,
    readonly at: StepPosition,
  ) {
    super(
      `${skippedInARow} steps in a row (up to global step ${at.globalStep}, epoch ${at.epoch} step ${at.step}) had a NaN or infinite gradient and were skipped ` +
        `(limit ${limit}); lower the learning rate or check the data, and resume from the last checkpoint`,
    );
  }
}

/** Runs optimizer steps on one replica; see the top of this file. */
export class StepRunner {
  /** Steps skipped since the last applied one. */
  skippedInARow = 0;
  /** Steps skipped in all. */
  skippedSteps = 0;
  private readonly maxSkippedSteps: number;

  constructor(private readonly options: StepRunnerOptions) {
    const limit = options.maxSkippedSteps ?? DEFAULT_MAX_SKIPPED_STEPS;
    if (!(limit >= 1 && (Number.isInteger(limit) || limit === Infinity))) {
      throw new RangeError(`maxSkippedSteps must be an integer >= 1 or Infinity, but got ${limit}`);
    }
    this.maxSkippedSteps = limit;
  }

  /**
   * One step on `batch` (this rank's images). Returns null when `abandon` said so after the
   * accumulation. Throws what the reduce hook throws (the weights are then unchanged). The limit
   * of skips in a row is checked by {@link checkSkipLimit}, so the caller can save a checkpoint first.
   */
  async run(batch: LocalBatch, step: StepOptions): Promise<StepResult | null> {
    const { replica } = this.options;
    const startMs = performance.now();
    replica.zeroGrad();
    const gradientOptions = {
      microBatch: this.options.microBatch,
      labelSmoothing: this.options.labelSmoothing,
      auxWeight: this.options.auxWeight,
      lossScale: 1 / this.options.globalBatch,
      seed: step.seed,
    };
    const stats = this.options.yieldBetweenMicroBatches
      ? await replica.accumulateYielding(batch, gradientOptions)
      : replica.accumulate(batch, gradientOptions);
    if (step.abandon?.() === true) return null;
    const poisoned = step.poison === true;
    const loss = poisoned ? Number.NaN : stats.lossSum / stats.count;
    // A non-finite local objective may still leave a finite gradient; poison it so the reduced
    // gradient is non-finite on every rank and every rank skips the step alike.
    if (!Number.isFinite(stats.objectiveSum) || poisoned) replica.grads[0] = Number.NaN;
    const accumulatedMs = performance.now();
    await this.options.reduce(replica.grads);
    const reducedMs = performance.now();
    const skipped = !allFinite(replica.grads);
    if (skipped) {
      this.skippedInARow += 1;
      this.skippedSteps += 1;
    } else {
      this.skippedInARow = 0;
      replica.apply(step.lr);
    }
    return {
      stats,
      loss,
      skipped,
      skippedInARow: this.skippedInARow,
      times: { startMs, accumulatedMs, reducedMs, appliedMs: performance.now() },
    };
  }

  /** Throws `TooManySkippedStepsError` when the last step reached the limit of skips in a row (after the caller saved what it must). */
  checkSkipLimit(at: StepPosition): void {
    if (this.skippedInARow >= this.maxSkippedSteps) throw new TooManySkippedStepsError(this.skippedInARow, this.maxSkippedSteps, at);
  }

  /** True when the last step reached the limit of skips in a row. */
  get overSkipLimit(): boolean {
    return this.skippedInARow >= this.maxSkippedSteps;
  }
}

/** True when no element is NaN or ±Infinity. */
function allFinite(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i += 1) if (!Number.isFinite(values[i]!)) return false;
  return true;
}
