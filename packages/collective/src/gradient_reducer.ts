// All-reduce of a flat gradient bucket by bucket, after torch DDP's Reducer: buckets are reduced
// one at a time, in layout order (the same order on every rank), over any BucketAllReduce (ring or
// star). DDP also starts a bucket while backward still fills the next; TF.js computes every
// gradient of a step in one call, so nothing here could overlap with it, and that API is gone.
import type { Bucket } from '@gnet/protocol';
import type { BucketAllReduce } from './bucket_all_reduce.js';
import { checkBucketLayout, layoutElements } from './bucket_layout.js';
import { CollectiveUsageError } from './errors.js';

/** Options of {@link GradientReducer}. */
export interface GradientReducerOptions {
  /** The algorithm: `RingAllReduce` or `StarAllReduce`. */
  algorithm: BucketAllReduce;
  /** The layout from `welcome.buckets` (or `planBuckets`), identical on every rank. */
  buckets: readonly Bucket[];
}

/** What {@link GradientReducer.allReduce} needs besides the buffer. */
export interface AllReduceContext {
  /** The round (`roundStart.round`). */
  round: number;
}

/**
 * Sums a flat float32 gradient across ranks, in place, bucket by bucket. The result is the sum,
 * not the mean: divide by `worldSize` (or scale the learning rate by `1 / worldSize`) yourself.
 *
 * @example
 * const reducer = new GradientReducer({ algorithm: ring, buckets: welcome.buckets });
 * await reducer.allReduce(flat, { round });
 */
export class GradientReducer {
  readonly buckets: readonly Bucket[];
  /** Elements of the flat gradient. */
  readonly elements: number;
  private readonly algorithm: BucketAllReduce;
  /** The round in progress (its abort controller), or null between rounds. */
  private current: AbortController | null = null;

  constructor(options: GradientReducerOptions) {
    checkBucketLayout(options.buckets);
    this.algorithm = options.algorithm;
    this.buckets = options.buckets;
    this.elements = layoutElements(options.buckets);
  }

  /**
   * Sums the whole flat gradient across ranks in place, buckets in layout order. Rejects with the
   * first bucket's failure (the later ones are not started), or `RoundAbortedError` after
   * {@link abort}.
   */
  async allReduce(flat: Float32Array, context: AllReduceContext): Promise<void> {
    if (flat.length !== this.elements) {
      throw new CollectiveUsageError(
        `GradientReducer.allReduce \`flat\` must have the layout's ${this.elements} elements, but has ${flat.length}`,
      );
    }
    if (this.current !== null) {
      throw new CollectiveUsageError(`GradientReducer.allReduce: round ${context.round} cannot start while another round is in progress`);
    }
    const controller = new AbortController();
    this.current = controller;
    try {
      for (const b of this.buckets) {
        await this.algorithm.reduceBucket(flat.subarray(b.offset, b.offset + b.length), b, {
          round: context.round,
          signal: controller.signal,
        });
      }
    } finally {
      this.current = null;
    }
  }

  /**
   * Aborts the round in progress (e.g. on the coordinator's `roundAbort`): its pending waits
   * fail at once with `RoundAbortedError`, and `allReduce` rejects with it. No-op between rounds.
   */
  abort(reason: string): void {
    this.current?.abort(reason);
  }
}
