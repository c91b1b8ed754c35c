// What a worker needs to take part in the group, sent in `welcome`: its data shard plan, the
// gradient bucket layout, the all-reduce settings and (for the ring) its peers' addresses.
// Bucketing follows torch DDP's `Reducer`: fixed, contiguous ranges over one flat vector.
import { SeedSchema } from '@gnet/recipe';
import { z } from 'zod';
import { WireDtypeSchema } from './dtype.js';

/**
 * How the training split is dealt out. Each worker derives its shard from these, its rank, the
 * world size and the epoch, so no index list crosses the wire.
 */
export const ShardPlanSchema = z.strictObject({
  /** Samples in the training split. */
  datasetSize: z.int().min(1),
  /** Lowercase hex SHA-256 of the training split's indices (uint32 little-endian), so a worker with other data refuses to start. */
  trainIndicesDigest: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits (SHA-256)'),
  /** Seed of the per-epoch shuffle. */
  seed: SeedSchema,
});
/** How the training split is dealt out. */
export type ShardPlan = z.infer<typeof ShardPlanSchema>;

/**
 * One gradient bucket: `length` float32 elements starting at element `offset` of the flat
 * parameter vector (all trainable variables, concatenated in the model's variable order).
 * Buckets are numbered from 0, contiguous and in order.
 */
export const BucketSchema = z.strictObject({
  bucket: z.int().min(0),
  /** Elements (not bytes) from the start of the flat vector. */
  offset: z.int().min(0),
  /** Elements in the bucket. */
  length: z.int().min(1),
});
/** One gradient bucket. */
export type Bucket = z.infer<typeof BucketSchema>;

/** All-reduce algorithm: a ring between workers, or a star through the coordinator. */
export const AllReduceAlgorithmSchema = z.enum(['ring', 'star']);
/** All-reduce algorithm. */
export type AllReduceAlgorithm = z.infer<typeof AllReduceAlgorithmSchema>;

/** How gradients are all-reduced. */
export const AllReduceConfigSchema = z.strictObject({
  algorithm: AllReduceAlgorithmSchema,
  /** Largest payload of one chunk frame in bytes; a multiple of 4 so chunks end on whole elements in every wire dtype. */
  chunkBytes: z.int().min(4),
  /** Element type of gradient chunks on the wire; reduction itself always happens in float32. */
  wireDtype: WireDtypeSchema,
});
/** How gradients are all-reduced. */
export type AllReduceConfig = z.infer<typeof AllReduceConfigSchema>;

/** A worker's peer listener, where ring neighbours connect. */
export const PeerSchema = z.strictObject({
  rank: z.int().min(0),
  /** WebSocket URL of that rank's peer listener, e.g. `ws://10.0.0.7:7001`. */
  url: z.string().regex(/^wss?:\/\/\S+$/, 'expected a ws:// or wss:// URL'),
});
/** A worker's peer listener. */
export type Peer = z.infer<typeof PeerSchema>;
