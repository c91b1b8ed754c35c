// The soak bench's verdict from per-step memory samples: after warm-up, live tfjs tensors must stay
// flat (any growth is a leak, one tensor per step or per evaluation) and the resident set's floor
// must grow by less than RSS_GROWTH_TARGET_PCT (allocator and JIT settle during warm-up; a leak
// keeps going).
// The floor is the lowest RSS over a window of steps at each end, long enough to span a major GC
// (`floorWindowSteps`, the bench's --floor-window, 200 by default). A leak raises the floor;
// garbage V8 has not yet collected only raises the peaks. A 1,000-step soak showed why medians
// are not enough: one worker's last 50 steps fell in a stretch with no major GC (heap 86–202 MiB,
// RSS median +16.6%), while its floors over 200 steps were unchanged (heap 52.3 -> 53.0 MiB,
// RSS +0.2%). Medians over `windowSteps` and single samples are still reported beside the floor.
import { median } from '../stats.js';

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
  /** Growth between the two medians. */
  rssMedianGrowthPct: number;
  /** Lowest RSS over the first and the last `floorWindowSteps` steps from warm-up on. */
  rssWarmFloorBytes: number;
  rssEndFloorBytes: number;
  /** Growth between the two floors: what the target applies to. */
  rssFloorGrowthPct: number;
  /** Highest RSS from warm-up on. */
  rssMaxBytes: number;
  heapWarmBytes: number;
  heapEndBytes: number;
  heapGrowthPct: number;
  /** Lowest V8 heap in use over the first and the last `floorWindowSteps` steps (after a major GC). */
  heapWarmFloorBytes: number;
  heapEndFloorBytes: number;
  /** Mean wall time per step after warm-up (evaluations and checkpoints included). */
  msPerStep: number;
  /** numTensors flat and RSS floor growth below the target. */
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
  warmFloorBytes: number;
  endFloorBytes: number;
  floorGrowthPct: number;
  maxBytes: number;
  /** Floor growth below the target. */
  withinTarget: boolean;
}

const growthPct = (from: number, to: number): number => ((to - from) / from) * 100;

/** Growth of `bytes` (one value per step, from the warm-up step on): medians over `windowSteps`, floors over `floorWindowSteps`. */
function growth(bytes: readonly number[], windowSteps: number, floorWindowSteps: number): GrowthSummary {
  const window = Math.max(1, Math.min(windowSteps, bytes.length));
  const warmMedianBytes = median(bytes.slice(0, window));
  const endMedianBytes = median(bytes.slice(-window));
  const floor = floorOf(bytes, floorWindowSteps);
  const floorGrowthPct = growthPct(floor.warm, floor.end);
  return {
    warmBytes: bytes[0]!,
    endBytes: bytes.at(-1)!,
    growthPct: growthPct(bytes[0]!, bytes.at(-1)!),
    warmMedianBytes,
    endMedianBytes,
    medianGrowthPct: growthPct(warmMedianBytes, endMedianBytes),
    warmFloorBytes: floor.warm,
    endFloorBytes: floor.end,
    floorGrowthPct,
    maxBytes: Math.max(...bytes),
    withinTarget: floorGrowthPct < RSS_GROWTH_TARGET_PCT,
  };
}

/** Lowest value over the first and over the last `windowSteps` values (the whole series if shorter). */
function floorOf(values: readonly number[], windowSteps: number): { warm: number; end: number } {
  const window = Math.max(1, Math.min(windowSteps, values.length));
  return { warm: Math.min(...values.slice(0, window)), end: Math.min(...values.slice(-window)) };
}

/**
 * Summarises `samples` (in step order, one per step) from step `warmupSteps` on, with RSS medians
 * over `windowSteps` steps and floors over `floorWindowSteps` steps at each end. Throws when there are not more samples than warm-up steps:
 * a verdict over nothing would read as a pass.
 */
export function summarizeWorker(
  samples: readonly StepSample[],
  warmupSteps: number,
  windowSteps: number,
  floorWindowSteps: number,
): WorkerSummary {
  if (!Number.isInteger(warmupSteps) || warmupSteps < 1 || samples.length <= warmupSteps) {
    throw new RangeError(`summarizeWorker needs more samples (${samples.length}) than warm-up steps (${warmupSteps}), and warm-up >= 1`);
  }
  const after = samples.slice(warmupSteps - 1);
  const warm = after[0]!;
  const end = after.at(-1)!;
  const counts = after.map((s) => s.numTensors);
  const numTensorsMin = Math.min(...counts);
  const numTensorsMax = Math.max(...counts);
  const rss = growth(
    after.map((s) => s.rssBytes),
    windowSteps,
    floorWindowSteps,
  );
  const heapFloor = floorOf(
    after.map((s) => s.heapUsedBytes),
    floorWindowSteps,
  );
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
    rssWarmFloorBytes: rss.warmFloorBytes,
    rssEndFloorBytes: rss.endFloorBytes,
    rssFloorGrowthPct: rss.floorGrowthPct,
    rssMaxBytes: rss.maxBytes,
    heapWarmBytes: warm.heapUsedBytes,
    heapEndBytes: end.heapUsedBytes,
    heapGrowthPct: growthPct(warm.heapUsedBytes, end.heapUsedBytes),
    heapWarmFloorBytes: heapFloor.warm,
    heapEndFloorBytes: heapFloor.end,
    msPerStep: (end.timeMs - warm.timeMs) / (end.step - warm.step),
    withinTargets: numTensorsMin === numTensorsMax && rss.withinTarget,
  };
}

/** RSS growth of a series sampled once per step (`bytes[k]` at step k + 1), from `warmupSteps` on. */
export function summarizeGrowth(
  bytes: readonly number[],
  warmupSteps: number,
  windowSteps: number,
  floorWindowSteps: number,
): GrowthSummary {
  if (bytes.length <= warmupSteps || warmupSteps < 1) {
    throw new RangeError(`summarizeGrowth needs more samples (${bytes.length}) than warm-up steps (${warmupSteps}), and warm-up >= 1`);
  }
  return growth(bytes.slice(warmupSteps - 1), windowSteps, floorWindowSteps);
}
