// Per-rank index lists for data-parallel training, with the semantics of PyTorch's
// torch.utils.data.distributed.DistributedSampler (torch/utils/data/distributed.py): one
// permutation per epoch from (seed, epoch), padded by wrapping (or truncated with dropLast) to a
// multiple of worldSize, and rank r takes perm[r::worldSize].
import { DataArgumentError } from './errors.js';
import { deriveSeed, Rng } from './rng.js';
import { requireInt } from './validate.js';

/** Options of {@link DistributedSampler}. */
export interface DistributedSamplerOptions {
  /** Number of examples in the dataset (e.g. 45,000 after the validation split). */
  datasetSize: number;
  /** Number of ranks training together. */
  worldSize: number;
  /** This process's rank, in [0, worldSize). */
  rank: number;
  /** Run seed; every rank must pass the same one. Any safe integer. */
  seed: number;
  /** Shuffle each epoch (default true); false gives 0, 1, 2, ... before padding. */
  shuffle?: boolean;
  /** Drop the tail so every rank gets floor(datasetSize / worldSize) (default false: pad by wrapping). */
  dropLast?: boolean;
}

/**
 * Deterministic sharding of a dataset across ranks. It keeps no state: `indicesForEpoch(epoch)` is a
 * pure function of (options, epoch), so a rank that restarts from a checkpoint gets the same list.
 *
 * @example
 * const sampler = new DistributedSampler({ datasetSize: 45_000, worldSize: 4, rank, seed });
 * const mine = sampler.indicesForEpoch(epoch); // 11,250 indices, disjoint from the other ranks'
 */
export class DistributedSampler {
  readonly datasetSize: number;
  readonly worldSize: number;
  readonly rank: number;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  /** Indices each rank gets per epoch; the same for every rank. */
  readonly numSamplesPerRank: number;
  /** numSamplesPerRank * worldSize: the permutation's length after padding or truncation. */
  readonly totalSize: number;

  constructor(options: DistributedSamplerOptions) {
    const op = 'DistributedSampler';
    this.datasetSize = requireInt(options.datasetSize, 'datasetSize', op, 1);
    this.worldSize = requireInt(options.worldSize, 'worldSize', op, 1);
    this.rank = requireInt(options.rank, 'rank', op, 0, this.worldSize - 1, `an integer in [0, worldSize) = [0, ${this.worldSize})`);
    this.seed = requireInt(options.seed, 'seed', op, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'a safe integer');
    this.shuffle = requireBool(options.shuffle ?? true, 'shuffle');
    this.dropLast = requireBool(options.dropLast ?? false, 'dropLast');
    // torch: ceil((N - W) / W) when dropping an uneven tail (= floor(N / W)), else ceil(N / W).
    this.numSamplesPerRank = this.dropLast ? Math.floor(this.datasetSize / this.worldSize) : Math.ceil(this.datasetSize / this.worldSize);
    this.totalSize = this.numSamplesPerRank * this.worldSize;
  }

  /**
   * This rank's indices for `epoch` (length numSamplesPerRank). Across ranks the lists have equal
   * length, are disjoint when datasetSize is a multiple of worldSize, and otherwise repeat only the
   * `totalSize - datasetSize` padding indices taken from the start of the permutation.
   */
  indicesForEpoch(epoch: number): Int32Array {
    requireInt(epoch, 'epoch', 'DistributedSampler.indicesForEpoch', 0);
    const perm = epochPermutation(this.datasetSize, this.shuffle ? deriveSeed(this.seed, epoch) : null);
    const out = new Int32Array(this.numSamplesPerRank);
    // Position p of the padded permutation is perm[p mod datasetSize]: this is torch's
    // `indices += indices[:padding_size]` (repeated when padding exceeds the dataset).
    for (let k = 0, p = this.rank; k < out.length; k++, p += this.worldSize) out[k] = perm[p % this.datasetSize]!;
    return out;
  }
}

/** Permutation of [0, n): Fisher-Yates from `seed`, or the identity when `seed` is null. */
export function epochPermutation(n: number, seed: number | null): Int32Array {
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  if (seed === null) return perm;
  const rng = new Rng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  return perm;
}

function requireBool(value: unknown, argument: string): boolean {
  if (typeof value !== 'boolean') {
    throw new DataArgumentError(argument, `\`${argument}\` passed to \`DistributedSampler\` must be a boolean, but got ${String(value)}`);
  }
  return value;
}
