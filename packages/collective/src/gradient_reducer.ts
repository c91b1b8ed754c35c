// All-reduce of a flat gradient bucket by bucket, after torch DDP's Reducer: the caller hands
// over each bucket as soon as its gradients are final (`reduceBucket`), communication of that
// bucket starts while the caller still fills the next, and `flush` waits for the lot. Buckets
// are reduced one at a time, in the order handed over (the same order on every rank), over any
// BucketAllReduce (ring or star).
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
 * // overlapped: hand over buckets as their gradients become final (same order on every rank)
 * for (const b of [...buckets].reverse()) { fillGradients(flat, b); void reducer.reduceBucket(flat, b.bucket, round); }
 * await reducer.flush();
 * // or all at once
 * await reducer.allReduce(flat, { round });
 */
export class GradientReducer {
  readonly buckets: readonly Bucket[];
  /** Elements of the flat gradient. */
  readonly elements: number;
  private readonly algorithm: BucketAllReduce;
  /** Whether each bucket has been handed over in the round in progress. */
  private readonly handedOver: Uint8Array;
  private round = -1;
  private inProgress = false;
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown = null;
  private controller = new AbortController();

  constructor(options: GradientReducerOptions) {
    checkBucketLayout(options.buckets);
    this.algorithm = options.algorithm;
    this.buckets = options.buckets;
    this.elements = layoutElements(options.buckets);
    this.handedOver = new Uint8Array(options.buckets.length);
  }

  /**
   * Starts summing bucket `bucket` of `flat` (the whole flat gradient) across ranks, in place,
   * once the buckets handed over before it are done. The first call with a new `round` starts
   * that round; the previous one must have been flushed. Resolves when this bucket is summed;
   * after a failure, the failed bucket and every later one reject with the same error.
   */
  reduceBucket(flat: Float32Array, bucket: number, round: number): Promise<void> {
    if (flat.length !== this.elements) {
      throw new CollectiveUsageError(
        `GradientReducer.reduceBucket \`flat\` must have the layout's ${this.elements} elements, but has ${flat.length}`,
      );
    }
    const b = this.buckets[bucket];
    if (b === undefined) {
      throw new CollectiveUsageError(`GradientReducer.reduceBucket \`bucket\` must be in [0, ${this.buckets.length}), but got ${bucket}`);
    }
    if (round !== this.round) this.startRound(round);
    if (this.handedOver[bucket] === 1) {
      throw new CollectiveUsageError(`GradientReducer.reduceBucket: bucket ${bucket} was already handed over in round ${round}`);
    }
    this.handedOver[bucket] = 1;
    const signal = this.controller.signal;
    const done = this.chain.then(() => {
      if (this.failure !== null) throw this.failure;
      return this.algorithm.reduceBucket(flat.subarray(b.offset, b.offset + b.length), b, { round, signal });
    });
    this.chain = done.catch((err: unknown) => {
      if (this.failure === null) this.failure = err;
    });
    // The caller may await only `flush`: keep an unawaited rejection from crashing the process.
    done.catch(() => undefined);
    return done;
  }

  /**
   * Waits until every bucket handed over in this round is summed, then ends the round. Rejects
   * with the round's first failure, or `CollectiveUsageError` naming buckets never handed over.
   */
  async flush(): Promise<void> {
    if (!this.inProgress) return;
    await this.chain;
    this.inProgress = false;
    if (this.failure !== null) throw this.failure;
    const missing: number[] = [];
    this.handedOver.forEach((given, bucket) => {
      if (given === 0) missing.push(bucket);
    });
    if (missing.length > 0) {
      throw new CollectiveUsageError(
        `GradientReducer.flush: round ${this.round} must reduce all ${this.buckets.length} buckets, but buckets ${missing.join(', ')} were never handed over`,
      );
    }
  }

  /** Sums the whole flat gradient across ranks in place, buckets in layout order, then flushes. */
  async allReduce(flat: Float32Array, context: AllReduceContext): Promise<void> {
    for (const b of this.buckets) void this.reduceBucket(flat, b.bucket, context.round);
    await this.flush();
  }

  /**
   * Aborts the round in progress (e.g. on the coordinator's `roundAbort`): its pending waits
   * fail at once with `RoundAbortedError`, and `flush` rejects with it.
   */
  abort(reason: string): void {
    if (this.inProgress) this.controller.abort(reason);
  }

  private startRound(round: number): void {
    if (this.inProgress) {
      throw new CollectiveUsageError(`GradientReducer.reduceBucket: round ${round} cannot start before round ${this.round} is flushed`);
    }
    this.round = round;
    this.inProgress = true;
    this.failure = null;
    this.handedOver.fill(0);
    this.chain = Promise.resolve();
    this.controller = new AbortController();
  }
}
