// A worker's view of CIFAR-10 for a run: the coordinator's training split (checked by digest),
// its training batches (@gnet/training's GlobalBatches, shared with single-process training: the
// elastic GlobalBatchSampler, rank r of W taking its slice of each global batch, augmentation
// seeded by the slice's position), and the evaluation shards. Membership may change between
// generations, so rank and world size are arguments of each call, not state.
import { indicesDigest, labelsOf, makeBatch, stratifiedSplit, type CifarSet, type GlobalBatchSampler } from '@gnet/data';
import { GlobalBatches } from '@gnet/training';
import type { EvalSplit, ShardPlan } from '@gnet/protocol';
import { VAL_PER_CLASS, type HyperParams } from '@gnet/recipe';

/** Floats of one 32x32x3 image. */
const IMAGE_FLOATS = 3072;

/** The data on this machine disagrees with the coordinator's shard plan. */
export class ShardMismatchError extends Error {
  readonly code = 'WORKER_SHARD_MISMATCH';
  override readonly name = 'ShardMismatchError';
}

/** Images and labels of a batch or an evaluation shard. */
export interface ImageBatch {
  /** [count, 32, 32, 3] NHWC normalised. */
  images: Float32Array;
  /** [count] */
  labels: Int32Array;
  count: number;
}

/** Options of {@link RankData}. */
export interface RankDataOptions {
  train: CifarSet;
  test: CifarSet;
  shard: ShardPlan;
  hyper: Pick<HyperParams, 'globalBatch' | 'seed' | 'augmentation'>;
}

/** One rank's view of CIFAR-10 for a run. */
export class RankData {
  /** Dataset indices of the training split used by the run (`shard.datasetSize` of them). */
  readonly trainIndices: Int32Array;
  readonly valIndices: Int32Array;
  readonly sampler: GlobalBatchSampler;
  readonly stepsPerEpoch: number;
  /** The largest slice any rank can get: the whole global batch (a group of one). */
  readonly maxBatch: number;
  private readonly batches: GlobalBatches;
  private readonly train: CifarSet;
  private readonly test: CifarSet;

  /** Throws `ShardMismatchError` when the split on disk is not the coordinator's. */
  constructor(options: RankDataOptions) {
    this.train = options.train;
    this.test = options.test;
    const split = stratifiedSplit(options.train.labels, VAL_PER_CLASS, options.hyper.seed);
    if (options.shard.datasetSize > split.train.length) {
      throw new ShardMismatchError(
        `shard.datasetSize must be at most the ${split.train.length} training images on this machine, but got ${options.shard.datasetSize}`,
      );
    }
    this.trainIndices = split.train.subarray(0, options.shard.datasetSize);
    this.valIndices = split.val;
    const digest = indicesDigest(this.trainIndices);
    if (digest !== options.shard.trainIndicesDigest) {
      throw new ShardMismatchError(
        `The training split on this machine (digest ${digest.slice(0, 12)}…) differs from the coordinator's (${options.shard.trainIndicesDigest.slice(0, 12)}…): different CIFAR-10 files or code versions`,
      );
    }
    this.batches = new GlobalBatches({
      train: options.train,
      trainIndices: this.trainIndices,
      globalBatch: options.hyper.globalBatch,
      shuffleSeed: options.shard.seed,
      augmentSeed: options.hyper.seed,
      augment: options.hyper.augmentation,
    });
    this.sampler = this.batches.sampler;
    this.stepsPerEpoch = this.batches.stepsPerEpoch;
    this.maxBatch = this.batches.maxBatch;
  }

  /** Samples `rank` of `worldSize` trains on at (`epoch`, `step`). */
  batchSize(rank: number, worldSize: number): number {
    return this.batches.batchSize(rank, worldSize);
  }

  /**
   * Dataset indices of `rank`'s batch at (`epoch`, `step`) in a group of `worldSize`, written
   * into the front of `out` (which holds at least `maxBatch`); returns the filled view.
   */
  batchIndices(epoch: number, step: number, rank: number, worldSize: number, out: Int32Array): Int32Array {
    return this.batches.batchIndices(epoch, step, rank, worldSize, out);
  }

  /**
   * Fills `batch` (capacity `maxBatch`) with `rank`'s augmented batch at (`epoch`, `step`) and sets
   * `batch.count`; `indices` receives its dataset indices. Returns the indices' view.
   */
  fillBatch(epoch: number, step: number, rank: number, worldSize: number, batch: ImageBatch, indices: Int32Array): Int32Array {
    return this.batches.fillBatch(epoch, step, rank, worldSize, batch, indices);
  }

  /** Images `[start, end)` of a split (validation: the held-out 5,000; test: the 10,000), unaugmented. */
  evalImages(split: EvalSplit, start: number, end: number): ImageBatch {
    const available = split === 'val' ? this.valIndices.length : this.test.count;
    if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= available)) {
      throw new RangeError(`evaluation shard [${start}, ${end}) of '${split}' must lie within its ${available} images`);
    }
    const set = split === 'val' ? this.train : this.test;
    const indices = Int32Array.from({ length: end - start }, (_, i) => (split === 'val' ? this.valIndices[start + i]! : start + i));
    const images = new Float32Array(indices.length * IMAGE_FLOATS);
    const labels = new Int32Array(indices.length);
    makeBatch(set, indices, images, { augment: null });
    labelsOf(set, indices, labels);
    return { images, labels, count: indices.length };
  }
}
