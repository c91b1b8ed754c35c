// Messages of one training round: roundStart, the gradient chunks of the all-reduce,
// metrics, roundAbort. Chunks never travel as MessagePack: they use the fixed binary frame of
// chunk_frame.ts, but are declared here like every other message so the union is complete.
import { z } from 'zod';
import { BytesSchema, WireDtypeSchema } from './dtype.js';

/** Unsigned 32-bit integer: the width of every chunk header field. */
const Uint32Schema = z.int().min(0).max(0xffffffff);

/**
 * coordinator → every worker: compute the gradient of this step and all-reduce it.
 * `round` counts all-reduce rounds over the whole run and is never reused: a round that is
 * aborted and retried for the same step gets a new number, so late chunks of the old one are
 * recognisable. Unique across coordinator restarts too (apps/coordinator/src/round_ids.ts
 * enforces it; workers remember aborted rounds across reconnects).
 */
export const RoundStartSchema = z.strictObject({
  type: z.literal('roundStart'),
  round: Uint32Schema,
  /** 0-based epoch. */
  epoch: z.int().min(0),
  /** 0-based optimizer step within `epoch`: which batch of its shard each worker takes. */
  step: z.int().min(0),
  /** Optimizer steps since the run began (drives logs and checkpoints). */
  globalStep: z.int().min(0),
  /** Learning rate for this step, from the coordinator's schedule. */
  lr: z.number().min(0),
});
/** coordinator → workers: start a round. */
export type RoundStart = z.infer<typeof RoundStartSchema>;

/**
 * coordinator → every worker: a round failed (a rank was lost or timed out). Workers drop their
 * partial all-reduce (a worker that already applied the round keeps it: the re-formed group
 * starts from one survivor's state, whichever it is, so replicas stay identical) and wait for
 * the coordinator: `checkpointRequest` to the survivor chosen as the source, then a new `welcome`
 * (next generation) and `initialWeights` to every member.
 */
export const RoundAbortSchema = z.strictObject({
  type: z.literal('roundAbort'),
  round: Uint32Schema,
  /** Why, for logs, e.g. `rank 2 missing for 30000 ms`. */
  reason: z.string().max(1024),
});
/** coordinator → workers: the round failed. */
export type RoundAbort = z.infer<typeof RoundAbortSchema>;

const chunkFields = {
  round: Uint32Schema,
  /** Bucket index in `welcome.buckets`. */
  bucket: Uint32Schema,
  /** Chunk index within the bucket's transfer in this round (for ordering and logs). */
  chunk: Uint32Schema,
  /** Element offset of the first value within the bucket. */
  offset: Uint32Schema,
  /** Elements in this chunk; may be 0 (a ring segment of a bucket shorter than worldSize). */
  count: Uint32Schema,
  dtype: WireDtypeSchema,
  /** The sender's rank. */
  rank: Uint32Schema,
  /** `count` little-endian `dtype` elements; after decoding, a view into the received frame. */
  bytes: BytesSchema,
};

/**
 * Partial gradient sums. ring: worker → next worker during reduce-scatter; star: worker →
 * coordinator (its own gradient). Travels as a binary chunk frame (see chunk_frame.ts).
 */
export const GradChunkSchema = z.strictObject({ type: z.literal('gradChunk'), ...chunkFields });
/** Partial gradient sums of one chunk. */
export type GradChunk = z.infer<typeof GradChunkSchema>;

/**
 * Fully reduced values: the sum over all ranks (dividing by worldSize is the receiver's job).
 * ring: worker → next worker during all-gather; star: coordinator → every worker. Travels as a
 * binary chunk frame.
 */
export const ReducedChunkSchema = z.strictObject({ type: z.literal('reducedChunk'), ...chunkFields });
/** Fully reduced values of one chunk. */
export type ReducedChunk = z.infer<typeof ReducedChunkSchema>;

/** A chunk message of either kind. */
export type ChunkMessage = GradChunk | ReducedChunk;

/**
 * worker → coordinator: this worker's all-reduce of `round` failed (a neighbour closed, sent
 * nothing within the collective timeout, or sent a malformed frame). The worker keeps its weights
 * and waits for the coordinator's decision (`roundAbort`, then a re-formed group). `peerRank`
 * names the rank it was waiting for, or is null when unknown: a rank that nobody reports and that
 * sent neither `metrics` nor `roundFailed` is the one the coordinator drops after a stall. With
 * `code` `COLLECTIVE_BAD_FRAME`, `peerRank` is the rank whose frame broke the protocol (the
 * reporter's ring neighbour), and the coordinator evicts that rank.
 */
export const RoundFailedSchema = z.strictObject({
  type: z.literal('roundFailed'),
  round: Uint32Schema,
  /** The collective error's code, e.g. `COLLECTIVE_PEER_LOST`, `COLLECTIVE_TIMEOUT`, `COLLECTIVE_BAD_FRAME`. */
  code: z.string().min(1).max(64),
  message: z.string().max(4096),
  peerRank: z.int().min(0).nullable(),
});
/** worker → coordinator: the round's all-reduce failed here. */
export type RoundFailed = z.infer<typeof RoundFailedSchema>;

/** Memory figures of a worker after a step, for leak watching (`bench/soak`, the dashboard). */
export const WorkerMemorySchema = z.strictObject({
  /** `tf.memory().numTensors`: flat across steps unless something leaks. */
  numTensors: z.int().min(0),
  /** Resident set size of the worker process, in bytes. */
  rssBytes: z.number().min(0),
  /** V8 heap in use, in bytes. */
  heapUsedBytes: z.number().min(0),
});
/** Memory figures of a worker. */
export type WorkerMemory = z.infer<typeof WorkerMemorySchema>;

/** A loss value: NaN and ±Infinity are allowed, because a diverging run must still be able to say so. */
export const LossSchema = z.custom<number>((value) => typeof value === 'number', 'expected a number');

/** Wall-clock time of a step's phases on one worker, in milliseconds. */
export const StepTimingsSchema = z.strictObject({
  /** Reading, augmenting and batching this step's samples. */
  dataMs: z.number().min(0),
  /** Forward and backward passes (all micro-batches). */
  computeMs: z.number().min(0),
  /** The all-reduce, from the first chunk sent to the last chunk reduced. */
  reduceMs: z.number().min(0),
  /** The optimizer update. */
  applyMs: z.number().min(0),
  /** The whole step, from `roundStart` received to `metrics` sent. */
  stepMs: z.number().min(0),
});
/** Per-phase step timings in milliseconds. */
export type StepTimings = z.infer<typeof StepTimingsSchema>;

/**
 * worker → coordinator, after it applied the update of a round: this also tells the coordinator
 * the worker finished the round.
 */
export const MetricsSchema = z.strictObject({
  type: z.literal('metrics'),
  round: Uint32Schema,
  epoch: z.int().min(0),
  step: z.int().min(0),
  /**
   * Mean cross-entropy of the main head over the worker's batch (no label smoothing, no aux heads: comparable with the evaluation loss).
   */
  loss: LossSchema,
  /** Samples of the batch the main head classified correctly (top-1). */
  correct: z.int().min(0),
  /** Samples in the worker's batch. */
  count: z.int().min(0),
  timings: StepTimingsSchema,
  /**
   * The all-reduced gradient held a NaN or infinity, so the update was not applied. Every rank
   * sees the same reduced gradient, so every rank skips alike and replicas stay identical (a rank
   * whose own loss is not finite poisons its gradient with NaN to make sure of it).
   */
  skipped: z.boolean(),
  memory: WorkerMemorySchema,
});
/** worker → coordinator: a finished step's numbers. */
export type Metrics = z.infer<typeof MetricsSchema>;
