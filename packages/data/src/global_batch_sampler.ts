// Elastic sharding: one permutation per epoch from (seed, epoch), cut into consecutive global
// batches of a size fixed for the whole run; rank r of W takes the slice
// [floor(r·B/W), floor((r+1)·B/W)) of each global batch. Unlike torch's DistributedSampler
// (perm[rank::worldSize], see distributed_sampler.ts), which sample a step sees does not depend
// on the world size, so a group re-formed mid-epoch with fewer or more workers (after a loss or
// a join) continues with exactly the samples the old group had not reached: every sample of the
// epoch's `stepsPerEpoch × B` is processed exactly once, whatever the membership did, and the
// learning-rate schedule (in steps) never changes. Remainder images (N mod B) are dropped, like
// torch's drop_last.
import { deriveSeed } from './rng.js';
import { epochPermutation } from './distributed_sampler.js';
import { requireInt } from './validate.js';

/** Options of {@link GlobalBatchSampler}. */
export interface GlobalBatchSamplerOptions {
  /** Images in the training split used by the run. */
  datasetSize: number;
  /** Images per optimizer step over all ranks together. */
  globalBatch: number;
  /** Run seed (the same on every rank). */
  seed: number;
  /** Shuffle each epoch (default true). */
  shuffle?: boolean;
}

/** Half-open range `[start, end)`. */
export interface SliceRange {
  start: number;
  end: number;
}

/**
 * The part of a global batch of `globalBatch` samples that `rank` of `worldSize` takes: sizes
 * differ by at most one, and the slices of ranks 0..W-1 tile [0, globalBatch) in order.
 */
export function rankSlice(rank: number, worldSize: number, globalBatch: number): SliceRange {
  const op = 'rankSlice';
  requireInt(worldSize, 'worldSize', op, 1);
  requireInt(globalBatch, 'globalBatch', op, worldSize, Number.MAX_SAFE_INTEGER, `an integer >= worldSize (${worldSize})`);
  requireInt(rank, 'rank', op, 0, worldSize - 1, `an integer in [0, worldSize) = [0, ${worldSize})`);
  return { start: Math.floor((rank * globalBatch) / worldSize), end: Math.floor(((rank + 1) * globalBatch) / worldSize) };
}

/** Deterministic, membership-independent batches: a pure function of (options, epoch, step). */
export class GlobalBatchSampler {
  readonly datasetSize: number;
  readonly globalBatch: number;
  readonly seed: number;
  readonly shuffle: boolean;
  /** floor(datasetSize / globalBatch). */
  readonly stepsPerEpoch: number;
  private cached: { epoch: number; perm: Int32Array } | null = null;

  constructor(options: GlobalBatchSamplerOptions) {
    const op = 'GlobalBatchSampler';
    this.datasetSize = requireInt(options.datasetSize, 'datasetSize', op, 1);
    this.globalBatch = requireInt(
      options.globalBatch,
      'globalBatch',
      op,
      1,
      this.datasetSize,
      `an integer in [1, datasetSize] = [1, ${this.datasetSize}]`,
    );
    this.seed = requireInt(options.seed, 'seed', op, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'a safe integer');
    this.shuffle = options.shuffle ?? true;
    this.stepsPerEpoch = Math.floor(this.datasetSize / this.globalBatch);
  }

  /**
   * Positions in [0, datasetSize) of `rank`'s samples at (`epoch`, `step`) for a group of
   * `worldSize`; `out` (if given) must hold the slice's length.
   */
  positions(epoch: number, step: number, rank: number, worldSize: number, out?: Int32Array): Int32Array {
    const op = 'GlobalBatchSampler.positions';
    requireInt(epoch, 'epoch', op, 0);
    requireInt(step, 'step', op, 0, this.stepsPerEpoch - 1, `an integer in [0, stepsPerEpoch) = [0, ${this.stepsPerEpoch})`);
    const { start, end } = rankSlice(rank, worldSize, this.globalBatch);
    const result = out ?? new Int32Array(end - start);
    if (result.length !== end - start) {
      throw new RangeError(
        `\`out\` passed to ${op} must hold ${end - start} positions (rank ${rank} of ${worldSize}), but holds ${result.length}`,
      );
    }
    if (this.cached?.epoch !== epoch)
      this.cached = { epoch, perm: epochPermutation(this.datasetSize, this.shuffle ? deriveSeed(this.seed, epoch) : null) };
    const base = step * this.globalBatch;
    result.set(this.cached.perm.subarray(base + start, base + end));
    return result;
  }
}
