// The training batches of a run, for any rank of any group: the elastic GlobalBatchSampler (one
// permutation per epoch, consecutive global batches of a size fixed for the run, rank r of W
// taking its slice), augmented from a seed of the slice's position in the global batch. The
// distributed worker (apps/worker rank_data.ts) and single-process training both fill batches here,
// so single-process training is exactly rank 0 of a group of one: same samples, same crops and
// flips, same dropout masks.
import type { Augmentation } from '@gnet/recipe';
import { GlobalBatchSampler, Rng, deriveSeed, labelsOf, makeBatch, rankSlice, type AugmentOptions, type CifarSet } from '@gnet/data';
import type { LocalBatch } from './gradients.js';

/** Floats of one 32x32x3 image. */
const IMAGE_FLOATS = 3072;

/**
 * Seed of the augmentation of the slice starting at `sliceStart` of the global batch (`epoch`, `step`): two ranks never share crops or
 * flips.
 */
export function augmentationSeed(seed: number, epoch: number, step: number, sliceStart: number): number {
  return deriveSeed(seed, 1, epoch, step, sliceStart);
}

/** Dropout seed of `rank`'s share of (`epoch`, `step`): masks differ per rank, like the batches. */
export function dropoutSeed(seed: number, epoch: number, step: number, rank: number): number {
  return deriveSeed(seed, 2, epoch, step, rank);
}

/** Options of {@link GlobalBatches}. */
export interface GlobalBatchesOptions {
  train: CifarSet;
  /** Dataset indices of the run's training split; the sampler draws positions in it. */
  trainIndices: Int32Array;
  globalBatch: number;
  /** Seed of the per-epoch shuffle (the coordinator's `shard.seed`). */
  shuffleSeed: number;
  /** Seed of the augmentation (the run's `hyper.seed`; the same number in every run the coordinator plans). */
  augmentSeed: number;
  /** The recipe's augmentation (wire names: `cropPaddingPx`, `flip`, `cutoutPx`). */
  augment: Augmentation;
}

/** The run's training batches; rank and world size are arguments of each call, since membership may change. */
export class GlobalBatches {
  readonly sampler: GlobalBatchSampler;
  readonly stepsPerEpoch: number;
  /** The largest slice any rank can get: the whole global batch (a group of one). */
  readonly maxBatch: number;

  private readonly augment: AugmentOptions;

  constructor(private readonly options: GlobalBatchesOptions) {
    this.augment = { crop: options.augment.cropPaddingPx, flip: options.augment.flip, cutout: options.augment.cutoutPx };
    this.sampler = new GlobalBatchSampler({
      datasetSize: options.trainIndices.length,
      globalBatch: options.globalBatch,
      seed: options.shuffleSeed,
    });
    this.stepsPerEpoch = this.sampler.stepsPerEpoch;
    this.maxBatch = options.globalBatch;
  }

  /** Samples `rank` of `worldSize` trains on at each step. */
  batchSize(rank: number, worldSize: number): number {
    const slice = rankSlice(rank, worldSize, this.options.globalBatch);
    return slice.end - slice.start;
  }

  /**
   * Dataset indices of `rank`'s batch at (`epoch`, `step`) in a group of `worldSize`, written
   * into the front of `out` (which holds at least `maxBatch`); returns the filled view.
   */
  batchIndices(epoch: number, step: number, rank: number, worldSize: number, out: Int32Array): Int32Array {
    const view = out.subarray(0, this.batchSize(rank, worldSize));
    this.sampler.positions(epoch, step, rank, worldSize, view);
    for (let i = 0; i < view.length; i += 1) view[i] = this.options.trainIndices[view[i]!]!;
    return view;
  }

  /**
   * Fills `batch` (capacity `maxBatch`) with `rank`'s augmented batch at (`epoch`, `step`) and sets
   * `batch.count`; `indices` receives its dataset indices. Returns the indices' view.
   */
  fillBatch(epoch: number, step: number, rank: number, worldSize: number, batch: LocalBatch, indices: Int32Array): Int32Array {
    const view = this.batchIndices(epoch, step, rank, worldSize, indices);
    const { start } = rankSlice(rank, worldSize, this.options.globalBatch);
    const rng = new Rng(augmentationSeed(this.options.augmentSeed, epoch, step, start));
    batch.count = view.length;
    makeBatch(this.options.train, view, batch.images.subarray(0, view.length * IMAGE_FLOATS), { augment: this.augment, rng });
    labelsOf(this.options.train, view, batch.labels.subarray(0, view.length));
    return view;
  }
}
