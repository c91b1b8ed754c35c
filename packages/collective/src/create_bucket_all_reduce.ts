// Picks the all-reduce algorithm a worker's `welcome.allReduce` names, so the worker app has one
// call to make whatever the coordinator chose.
import type { AllReduceConfig } from '@gnet/protocol';
import type { BucketAllReduce } from './bucket_all_reduce.js';
import { RingAllReduce } from './ring_all_reduce.js';
import { StarAllReduce } from './star_all_reduce.js';
import type { Transport } from './transport.js';

/** Options of {@link createBucketAllReduce}. */
export interface CreateBucketAllReduceOptions {
  /** `welcome.allReduce`: algorithm, chunkBytes, wireDtype. */
  config: AllReduceConfig;
  /** Ring: the transport of `connectRing`; star: the one of `connectStarWorker`. */
  transport: Transport;
  rank: number;
  worldSize: number;
  /** Bound on each send and receive, in milliseconds; default DEFAULT_COLLECTIVE_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Preallocated send buffers; default DEFAULT_SEND_BUFFERS. */
  sendBuffers?: number;
}

/**
 * A `RingAllReduce` or `StarAllReduce` for `config`.
 *
 * @example
 * const reducer = new GradientReducer({ algorithm: createBucketAllReduce({ config: welcome.allReduce, transport, rank, worldSize }),
 *   buckets: welcome.buckets });
 */
export function createBucketAllReduce(options: CreateBucketAllReduceOptions): BucketAllReduce {
  const { config, ...rest } = options;
  const settings = { ...rest, chunkBytes: config.chunkBytes, wireDtype: config.wireDtype };
  return config.algorithm === 'ring' ? new RingAllReduce(settings) : new StarAllReduce(settings);
}
