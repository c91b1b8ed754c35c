// The soak bench's verdict from per-step memory samples: after warm-up, live tfjs tensors must stay
// flat (any growth is a leak, one tensor per step or per evaluation) and the resident set must grow
// by less than RSS_GROWTH_TARGET_PCT (allocator and JIT settle during warm-up; a leak keeps going).
// RSS is judged on medians of a window of steps at each end, not on two single samples: rank 0's
// RSS jumps by tens of MiB around each checkpoint snapshot and falls back after the next GC, so one
// sample can land on a spike either way. The single samples are reported too.

/** Allowed RSS growth from the end of warm-up to the last step, in percent. */
export const RSS_GROWTH_TARGET_PCT = 10;

/** One worker's 'step done' debug line, reduced to what the soak watches. */
export interface StepSample {
  /** Optimizer steps this worker has taken, counting this one (1-based). */
  step: number;
  numTensors: number;
  rssBytes: number;
  heapUsedBytes: number;
  /** pino's `time`: ms since the epoch when the line was logged. */
  timeMs: number;
}

/** A worker's figures after warm-up. */
export interface WorkerSummary {
  steps: number;
  /** min / max of numTensors from the warm-up step to the last; flat = equal. */
  numTensorsMin: number;
  numTensorsMax: number;
  numTensorsFlat: boolean;
  /** At the warm-up step and at the last step. */
  rssWarmBytes: number;
  rssEndBytes: number;
  rssGrowthPct: number;
  /** Medians over the first `windowSteps` steps from warm-up on, and over the last `windowSteps`. */
  rssWarmMedianBytes: number;
  rssEndMedianBytes: number;
  /** Growth between the two medians: what the target applies to. */
  rssMedianGrowthPct: number;
  /** Highest RSS from warm-up on. */
  rssMaxBytes: number;
  heapWarmBytes: number;
  heapEndBytes: number;
  heapGrowthPct: number;
  /** Mean wall time per step after warm-up (evaluations and checkpoints included). */
  msPerStep: number;
  /** numTensors flat and median RSS growth below the target. */
  withinTargets: boolean;
}

/** A series' value at the warm-up step and at the end, its window medians, and the growth between them. */
export interface GrowthSummary {
  warmBytes: number;
  endBytes: number;
  growthPct: number;
  warmMedianBytes: number;
  endMedianBytes: number;
  medianGrowthPct: number;
  maxBytes: number;
  /** Median growth below the target. */
  withinTarget: boolean;
}

const growthPct = (from: number, to: number): number => ((to - from) / from) * 100;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Growth of `bytes` (one value per step, from the warm-up step on) judged on `windowSteps`-step medians. */
function growth(bytes: readonly number[], windowSteps: number): GrowthSummary {
  const window = Math.max(1, Math.min(windowSteps, bytes.length));
  const warmMedianBytes = median(bytes.slice(0, window));
  const endMedianBytes = median(bytes.slice(-window));
  const medianGrowthPct = growthPct(warmMedianBytes, endMedianBytes);
  return {
    warmBytes: bytes[0]!,
    endBytes: bytes.at(-1)!,
    growthPct: growthPct(bytes[0]!, bytes.at(-1)!),
    warmMedianBytes,
    endMedianBytes,
    medianGrowthPct,
    maxBytes: Math.max(...bytes),
    withinTarget: medianGrowthPct < RSS_GROWTH_TARGET_PCT,
  };
}

/**
 * Summarises `samples` (in step order, one per step) from step `warmupSteps` on, with RSS medians
 * over `windowSteps` steps at each end. Throws when there are not more samples than warm-up steps:
 * a verdict over nothing would read as a pass.
 */
export function summarizeWorker(samples: readonly StepSample[], warmupSteps: number, windowSteps: number): WorkerSummary {
  if (!Number.isInteger(warmupSteps) || warmupSteps < 1 || samples.length <= warmupSteps) {
    throw new RangeError(`summarizeWorker needs more samples (${samples.length}) than warm-up steps (${warmupSteps}), and warm-up >= 1`);
  }
  const after = samples.slice(warmupSteps - 1);
  const warm = after[0]!;
  const end = after.at(-1)!;
  const counts = after.map((s) => s.numTensors);
  const numTensorsMin = Math.min(...counts);
  const numTensorsMax = Math.max(...counts);
  const rss = growth(after.map((s) => s.rssBytes), windowSteps);
  return {
    steps: samples.length,
    numTensorsMin,
    numTensorsMax,
    numTensorsFlat: numTensorsMin === numTensorsMax,
    rssWarmBytes: rss.warmBytes,
    rssEndBytes: rss.endBytes,
    rssGrowthPct: rss.growthPct,
    rssWarmMedianBytes: rss.warmMedianBytes,
    rssEndMedianBytes: rss.endMedianBytes,
    rssMedianGrowthPct: rss.medianGrowthPct,
    rssMaxBytes: rss.maxBytes,
    heapWarmBytes: warm.heapUsedBytes,
    heapEndBytes: end.heapUsedBytes,
    heapGrowthPct: growthPct(warm.heapUsedBytes, end.heapUsedBytes),
    msPerStep: (end.timeMs - warm.timeMs) / (end.step - warm.step),
    withinTargets: numTensorsMin === numTensorsMax && rss.withinTarget,
  };
}

/** RSS growth of a series sampled once per step (`bytes[k]` at step k + 1), from `warmupSteps` on. */
export function summarizeGrowth(bytes: readonly number[], warmupSteps: number, windowSteps: number): GrowthSummary {
  if (bytes.length <= warmupSteps || warmupSteps < 1) {
    throw new RangeError(`summarizeGrowth needs more samples (${bytes.length}) than warm-up steps (${warmupSteps}), and warm-up >= 1`);
  }
  return growth(bytes.slice(warmupSteps - 1), windowSteps);
}
