// Training figures of one epoch, summed from every rank's `metrics` of every round: the loss and
// accuracy of the epoch's images, throughput, and how much of a step the all-reduce took.
import type { Metrics } from '@gnet/protocol';

/** An epoch's training figures. */
export interface EpochTraining {
  steps: number;
  images: number;
  /** Mean main-head cross-entropy over the epoch's images. */
  trainLoss: number;
  trainAccuracy: number;
  /** Wall-clock seconds of the epoch's rounds on the coordinator (evaluation excluded). */
  seconds: number;
  imagesPerSecond: number;
  /** Mean over ranks and steps of reduceMs / stepMs: the share of a step spent in the all-reduce (waiting for slower ranks included). */
  communicationShare: number;
  /** Mean over ranks and steps of the phases, in milliseconds. */
  meanStepMs: { dataMs: number; computeMs: number; reduceMs: number; applyMs: number; stepMs: number };
}

/** Accumulates the rounds of one epoch. */
export class EpochMeter {
  private steps = 0;
  private lossSum = 0;
  private correct = 0;
  private count = 0;
  private seconds = 0;
  private reports = 0;
  private share = 0;
  private readonly phases = { dataMs: 0, computeMs: 0, reduceMs: 0, applyMs: 0, stepMs: 0 };

  /** Adds one round: every rank's metrics and the round's wall time in seconds. */
  addRound(metrics: readonly Metrics[], seconds: number): void {
    this.steps += 1;
    this.seconds += seconds;
    for (const m of metrics) {
      // `loss` is the mean over the rank's batch: weigh it by its images.
      this.lossSum += m.loss * m.count;
      this.correct += m.correct;
      this.count += m.count;
      this.reports += 1;
      this.share += m.timings.stepMs > 0 ? m.timings.reduceMs / m.timings.stepMs : 0;
      for (const key of Object.keys(this.phases) as (keyof typeof this.phases)[]) this.phases[key] += m.timings[key];
    }
  }

  /** The epoch so far. */
  result(): EpochTraining {
    const n = Math.max(1, this.reports);
    const mean = (v: number): number => v / n;
    return {
      steps: this.steps,
      images: this.count,
      trainLoss: this.lossSum / Math.max(1, this.count),
      trainAccuracy: this.correct / Math.max(1, this.count),
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
