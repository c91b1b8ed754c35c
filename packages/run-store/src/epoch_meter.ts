// Training figures of one epoch, summed from every rank's report of every step: the loss and
// accuracy of the epoch's images, throughput, and how much of a step the all-reduce took. The
// coordinator feeds it the workers' `metrics`; single-process training feeds it its one report per
// step, so both modes write the same epoch records (records.ts).

/** Phases of one rank's step, in milliseconds. */
export interface StepPhasesMs {
  dataMs: number;
  computeMs: number;
  reduceMs: number;
  applyMs: number;
  stepMs: number;
}

/** One rank's report of one step (the fields of the protocol's `metrics` the meter reads). */
export interface StepReport {
  /** Mean main-head loss over the rank's images. */
  loss: number;
  correct: number;
  count: number;
  timings: StepPhasesMs;
}

/** An epoch's training figures. */
export interface EpochTraining {
  steps: number;
  /** Steps whose update every rank skipped (a non-finite reduced gradient): counted in `steps` and `seconds`, not in the image figures. */
  skippedSteps: number;
  /** Images of the steps that updated the weights. */
  images: number;
  /** Mean main-head cross-entropy over the images of the steps that updated the weights (NaN if none did). */
  trainLoss: number;
  /** Top-1 accuracy over the same images (NaN if none). */
  trainAccuracy: number;
  /** Wall-clock seconds of the epoch's rounds on the coordinator (evaluation excluded). */
  seconds: number;
  imagesPerSecond: number;
  /** Mean over ranks and steps of reduceMs / stepMs: the share of a step spent in the all-reduce (waiting for slower ranks included). */
  communicationShare: number;
  /** Mean over ranks and steps of the phases, in milliseconds. */
  meanStepMs: StepPhasesMs;
}

/** An `EpochMeter`'s sums as plain JSON, kept in checkpoints so a resumed epoch's record covers the whole epoch. */
export interface EpochMeterState {
  steps: number;
  /** Absent in checkpoints written before skipped steps were kept apart (read as 0). */
  skippedSteps?: number;
  lossSum: number;
  correct: number;
  count: number;
  seconds: number;
  reports: number;
  share: number;
  phases: StepPhasesMs;
}

/** Accumulates the rounds of one epoch. */
export class EpochMeter {
  /**
   * A meter that continues from `state` (a checkpoint's: the rounds of the epoch trained before
   * it); a new one when `state` is missing or not a meter's (checkpoints written before it was kept).
   */
  static restore(state: unknown): EpochMeter {
    const meter = new EpochMeter();
    const s = state as Partial<EpochMeterState> | null | undefined;
    const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
    const phaseKeys = Object.keys(meter.phases) as (keyof EpochMeterState['phases'])[];
    if (
      s === null ||
      typeof s !== 'object' ||
      ![s.steps, s.lossSum, s.correct, s.count, s.seconds, s.reports, s.share].every(finite) ||
      typeof s.phases !== 'object' ||
      s.phases === null ||
      !phaseKeys.every((k) => finite(s.phases![k]))
    ) {
      return meter;
    }
    meter.steps = s.steps!;
    meter.skippedSteps = finite(s.skippedSteps) ? s.skippedSteps : 0;
    meter.lossSum = s.lossSum!;
    meter.correct = s.correct!;
    meter.count = s.count!;
    meter.seconds = s.seconds!;
    meter.reports = s.reports!;
    meter.share = s.share!;
    for (const k of phaseKeys) meter.phases[k] = s.phases[k];
    return meter;
  }

  private steps = 0;
  private skippedSteps = 0;
  private lossSum = 0;
  private correct = 0;
  private count = 0;
  private seconds = 0;
  private reports = 0;
  private share = 0;
  private readonly phases = { dataMs: 0, computeMs: 0, reduceMs: 0, applyMs: 0, stepMs: 0 };

  /**
   * Adds one step: every rank's report and the step's wall time in seconds. A `skipped` step (its
   * update skipped on every rank alike) took its time, but its images trained nothing and its loss
   * may be the NaN that caused the skip: it stays out of the loss, the accuracy and the images.
   */
  addRound(metrics: readonly StepReport[], seconds: number, skipped = false): void {
    this.steps += 1;
    this.seconds += seconds;
    if (skipped) this.skippedSteps += 1;
    for (const m of metrics) {
      if (!skipped) {
        // `loss` is the mean over the rank's batch: weigh it by its images.
        this.lossSum += m.loss * m.count;
        this.correct += m.correct;
        this.count += m.count;
      }
      this.reports += 1;
      this.share += m.timings.stepMs > 0 ? m.timings.reduceMs / m.timings.stepMs : 0;
      for (const key of Object.keys(this.phases) as (keyof typeof this.phases)[]) this.phases[key] += m.timings[key];
    }
  }

  /** The sums so far, for a checkpoint (see `restore`). */
  state(): EpochMeterState {
    return {
      steps: this.steps,
      skippedSteps: this.skippedSteps,
      lossSum: this.lossSum,
      correct: this.correct,
      count: this.count,
      seconds: this.seconds,
      reports: this.reports,
      share: this.share,
      phases: { ...this.phases },
    };
  }

  /** The epoch so far. */
  result(): EpochTraining {
    const n = Math.max(1, this.reports);
    const mean = (v: number): number => v / n;
    return {
      steps: this.steps,
      skippedSteps: this.skippedSteps,
      images: this.count,
      // No image trained (every step skipped): no figure, written as null, never a perfect-looking 0.
      trainLoss: this.count > 0 ? this.lossSum / this.count : Number.NaN,
      trainAccuracy: this.count > 0 ? this.correct / this.count : Number.NaN,
      seconds: this.seconds,
      imagesPerSecond: this.seconds > 0 ? this.count / this.seconds : 0,
      communicationShare: mean(this.share),
      meanStepMs: {
        dataMs: mean(this.phases.dataMs),
        computeMs: mean(this.phases.computeMs),
        reduceMs: mean(this.phases.reduceMs),
        applyMs: mean(this.phases.applyMs),
        stepMs: mean(this.phases.stepMs),
      },
    };
  }
}
