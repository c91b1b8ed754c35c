// A rank's data: its shard of the training split (DistributedSampler over the split's indices,
// dropLast, one permutation per epoch from the run seed) cut into per-step batches, and its
// evaluation shards. Follows the single-node loop (packages/training/src/single_node_run.ts):
// same split, same sampler, augmentation drawn from `Rng(deriveSeed(seed, 1, epoch, step, rank))`,
// i.e. the single-node stream with the rank appended so ranks never share crops or flips.
import {
  DistributedSampler,
  Rng,
  deriveSeed,
  indicesDigest,
  labelsOf,
  makeBatch,
  stratifiedSplit,
  type AugmentOptions,
  type CifarSet,
} from '@gnet/data';
import type { EvalSplit, HyperParams, ShardPlan } from '@gnet/protocol';

/** Validation images per class held out of the 50,000 (the coordinator's and single-node trainer's split). */
const VAL_PER_CLASS = 500;
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
  hyper: Pick<HyperParams, 'batchSizePerWorker' | 'seed' | 'augmentation'>;
  rank: number;
  worldSize: number;
}

/** One rank's view of CIFAR-10 for a run. */
export class RankData {
  /** Dataset indices of the training split used by the run (`shard.datasetSize` of them). */
  readonly trainIndices: Int32Array;
  readonly valIndices: Int32Array;
  readonly sampler: DistributedSampler;
  readonly stepsPerEpoch: number;
  private readonly augment: AugmentOptions;
  private readonly train: CifarSet;
  private readonly test: CifarSet;
  private order: { epoch: number; positions: Int32Array } | null = null;

  /** Throws `ShardMismatchError` when the split on disk is not the coordinator's. */
  constructor(private readonly o: RankDataOptions) {
    this.train = o.train;
    this.test = o.test;
    const split = stratifiedSplit(o.train.labels, VAL_PER_CLASS, o.hyper.seed);
    if (o.shard.datasetSize > split.train.length) {
      throw new ShardMismatchError(`shard.datasetSize must be at most the ${split.train.length} training images on this machine, but got ${o.shard.datasetSize}`);
    }
    this.trainIndices = split.train.subarray(0, o.shard.datasetSize);
    this.valIndices = split.val;
    const digest = indicesDigest(this.trainIndices);
    if (digest !== o.shard.trainIndicesDigest) {
      throw new ShardMismatchError(
        `The training split on this machine (digest ${digest.slice(0, 12)}…) differs from the coordinator's (${o.shard.trainIndicesDigest.slice(0, 12)}…): different CIFAR-10 files or code versions`,
      );
    }
    this.sampler = new DistributedSampler({ datasetSize: o.shard.datasetSize, worldSize: o.worldSize, rank: o.rank, seed: o.shard.seed, shuffle: true, dropLast: true });
    this.stepsPerEpoch = Math.floor(this.sampler.numSamplesPerRank / o.hyper.batchSizePerWorker);
    const a = o.hyper.augmentation;
    this.augment = { crop: a.cropPaddingPx, flip: a.flip, cutout: a.cutoutPx };
  }

  /** Dataset indices of this rank's batch at (`epoch`, `step`), written into `out` ([batchSizePerWorker]). */
  batchIndices(epoch: number, step: number, out: Int32Array): Int32Array {
    if (this.order?.epoch !== epoch) this.order = { epoch, positions: this.sampler.indicesForEpoch(epoch) };
    const b = this.o.hyper.batchSizePerWorker;
    if (!Number.isInteger(step) || step < 0 || step >= this.stepsPerEpoch) {
      throw new RangeError(`\`step\` passed to RankData.batchIndices must be in [0, ${this.stepsPerEpoch}), but got ${step}`);
    }
    for (let i = 0; i < b; i += 1) out[i] = this.trainIndices[this.order.positions[step * b + i]!]!;
    return out;
  }

  /** Fills `batch` with this rank's augmented batch at (`epoch`, `step`); `indices` receives its dataset indices. */
  fillBatch(epoch: number, step: number, batch: ImageBatch, indices: Int32Array): void {
    this.batchIndices(epoch, step, indices);
    const rng = new Rng(deriveSeed(this.o.hyper.seed, 1, epoch, step, this.o.rank));
    makeBatch(this.train, indices, batch.images, { augment: this.augment, rng });
    labelsOf(this.train, indices, batch.labels);
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
