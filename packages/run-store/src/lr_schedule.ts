// Learning-rate schedule: linear warm-up, then cosine decay (Goyal et al. 2017; Loshchilov & Hutter 2017).
// A pure function of the global step, so a resumed run and every replica compute the same value.
// Lives here, beside the other tfjs-free run pieces, so the coordinator (which never loads tfjs and
// drives the schedule, sending each step's lr in `roundStart`) and single-node training share it.

/** The schedule decays to zero (kuangliu/pytorch-cifar's cosine annealing; Loshchilov & Hutter 2017). */
export interface LrSchedule {
  lrPeak: number;
  warmupSteps: number;
  totalSteps: number;
}

/**
 * Learning rate for optimizer step `step` (0-based).
 * Warm-up ramps from lrPeak/warmupSteps to lrPeak over `warmupSteps`, then cosine decay to 0 at
 * `totalSteps`.
 */
export function learningRateAt(step: number, schedule: LrSchedule): number {
  if (!Number.isInteger(step) || step < 0) {
    throw new RangeError(`\`step\` passed to learningRateAt must be a non-negative integer, but got ${step}`);
  }
  if (schedule.warmupSteps > 0 && step < schedule.warmupSteps) return (schedule.lrPeak * (step + 1)) / schedule.warmupSteps;
  const decaySteps = Math.max(1, schedule.totalSteps - schedule.warmupSteps);
  const t = Math.min(1, (step - schedule.warmupSteps) / decaySteps);
  return 0.5 * schedule.lrPeak * (1 + Math.cos(Math.PI * t));
}
