// The one signature every all-reduce algorithm implements (ring, star), and the helper that runs
// an algorithm's send and receive loops side by side so that the first failure stops both
// (torch's ProcessGroup::allreduce plays the same role over Gloo / NCCL).
import type { AllReduceAlgorithm, Bucket } from '@gnet/protocol';
import type { ReceiveStats } from './chunk_receiver.js';
import { CollectiveUsageError } from './errors.js';

/** Which round a bucket belongs to, and how to abort it. */
export interface BucketContext {
  /** The all-reduce round (`roundStart.round`); never reused, so late frames are recognisable. */
  round: number;
  /** Aborting it fails the bucket's pending waits at once with `RoundAbortedError`. */
  signal?: AbortSignal;
}

/**
 * Sums one gradient bucket across all ranks, in place: on return `data` holds the element-wise
 * sum over ranks (not the mean: divide by `worldSize`, or fold `1 / worldSize` into the learning
 * rate or loss scale), bit-identical on every rank. Every rank must reduce the same buckets in
 * the same order; one bucket at a time per instance.
 */
export interface BucketAllReduce {
  readonly algorithm: AllReduceAlgorithm;
  readonly rank: number;
  readonly worldSize: number;
  /** What this instance received and dropped so far. */
  readonly stats: ReceiveStats;
  /**
   * Sums `data` (the bucket's `bucket.length` elements of the flat gradient, e.g.
   * `flat.subarray(bucket.offset, bucket.offset + bucket.length)`) across ranks, in place.
   */
  reduceBucket(data: Float32Array, bucket: Bucket, context: BucketContext): Promise<void>;
}

/**
 * Runs the loops `start` returns until all have ended. The first loop to fail aborts the signal
 * handed to the others (so their pending waits end at once) and its error is thrown once every
 * loop has stopped: nothing touches the caller's buffers after this returns.
 */
export async function runLoops(outer: AbortSignal | undefined, start: (signal: AbortSignal) => Promise<void>[]): Promise<void> {
  const inner = new AbortController();
  const signal = outer === undefined ? inner.signal : AbortSignal.any([outer, inner.signal]);
  let failed = false;
  let first: unknown = undefined;
  const fail = (err: unknown): void => {
    if (failed) return;
    failed = true;
    first = err;
    inner.abort(err);
  };
  let loops: Promise<void>[];
  try {
    loops = start(signal);
  } catch (err) {
    fail(err);
    throw err;
  }
  await Promise.all(loops.map((loop) => loop.catch(fail)));
  if (failed) throw first;
}

/**
 * The argument checks every `reduceBucket` starts with: `data` spans exactly the bucket, and the
 * instance is not already reducing another one. `owner` names the algorithm in the message.
 */
export function checkBucketCall(owner: string, data: Float32Array, bucket: Bucket, busy: boolean): void {
  if (data.length !== bucket.length) {
    throw new CollectiveUsageError(
      `${owner}.reduceBucket \`data\` must have bucket ${bucket.bucket}'s length (${bucket.length}) elements, but has ${data.length}`,
    );
  }
  if (busy) {
    throw new CollectiveUsageError(`${owner}.reduceBucket called for bucket ${bucket.bucket} while another bucket is in progress`);
  }
}
