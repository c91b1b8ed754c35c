// Messages outside the training round: liveness, evaluation, checkpoints, leaving and errors.
import { z } from 'zod';
import { LossSchema } from './round_messages.js';
import { WireTensorSchema } from './tensor.js';

/**
 * worker → coordinator every `welcome.heartbeatMs`, and coordinator → worker at the same rate,
 * so either side notices a silent peer (a missing heartbeat for several periods ends the
 * connection and, for a worker, fails the round).
 */
export const HeartbeatSchema = z.strictObject({
  type: z.literal('heartbeat'),
  /** Sender's wall clock, milliseconds since the Unix epoch. */
  sentAtMs: z.number().min(0),
});
/** Either direction: still alive. */
export type Heartbeat = z.infer<typeof HeartbeatSchema>;

/** Which split an evaluation runs on. */
export const EvalSplitSchema = z.enum(['test', 'val']);
/** Which split an evaluation runs on. */
export type EvalSplit = z.infer<typeof EvalSplitSchema>;

/**
 * coordinator → every worker between rounds (validation after every epoch, test after the last): evaluate the
 * current weights on samples `[start, end)` of `split`. The shards of all workers cover the split
 * exactly once; a shard may be empty when there are more workers than samples.
 */
export const EvalRequestSchema = z.strictObject({
  type: z.literal('evalRequest'),
  /** Matches the reply to the request. */
  evalId: z.int().min(0),
  /** Epoch just finished (0-based). */
  epoch: z.int().min(0),
  split: EvalSplitSchema,
  /** First sample index of the shard, inclusive. */
  start: z.int().min(0),
  /** Last sample index of the shard, exclusive. */
  end: z.int().min(0),
  /** Samples per forward pass. */
  batchSize: z.int().min(1),
  /**
   * The all-reduce round in which every worker first averages its BatchNorm running statistics
   * (the weights moved since the last average), or null to evaluate as they are. The coordinator
   * decides, so both sides always agree on whether and in which round to average.
   */
  averageRound: z.int().min(0).max(0xffffffff).nullable(),
});
/** coordinator → worker: evaluate a shard. */
export type EvalRequest = z.infer<typeof EvalRequestSchema>;

/**
 * worker → coordinator, in reply to `evalRequest`: sums, not means, so the coordinator can add
 * shards of different sizes. `perClass*` have one entry per class (10 for CIFAR-10).
 */
export const EvalResultSchema = z.strictObject({
  type: z.literal('evalResult'),
  evalId: z.int().min(0),
  epoch: z.int().min(0),
  split: EvalSplitSchema,
  start: z.int().min(0),
  end: z.int().min(0),
  /** Sum of the main head's cross-entropy over the shard (no label smoothing, no aux heads). */
  lossSum: LossSchema,
  /** Samples classified correctly (top-1). */
  correct: z.int().min(0),
  /** Samples evaluated: `end - start`. */
  count: z.int().min(0),
  perClassCorrect: z.array(z.int().min(0)).max(1000),
  perClassCount: z.array(z.int().min(0)).max(1000),
  /**
   * Confusion matrix, row-major `[true class][predicted class]` image counts, `perClassCount.length²`
   * entries (a sum too, so shards add up); empty when the shard is empty.
   */
  confusion: z.array(z.int().min(0)).max(1_000_000),
});
/** worker → coordinator: evaluation sums for a shard. */
export type EvalResult = z.infer<typeof EvalResultSchema>;

/**
 * coordinator → one worker (rank 0 unless it is missing) between rounds: send the full training
 * state as it stands after `globalStep`, so the coordinator can write a checkpoint.
 */
export const CheckpointRequestSchema = z.strictObject({
  type: z.literal('checkpointRequest'),
  /** Matches the reply to the request. */
  requestId: z.int().min(0),
  epoch: z.int().min(0),
  /** Step within `epoch` training resumes at when this checkpoint is loaded. */
  step: z.int().min(0),
  globalStep: z.int().min(0),
  /** Include the SGD momentum buffers (needed for an exact resume, doubles the size). */
  includeMomentum: z.boolean(),
});
/** coordinator → worker: send your state. */
export type CheckpointRequest = z.infer<typeof CheckpointRequestSchema>;

/**
 * worker → coordinator, in reply to `checkpointRequest`. `momentum` is empty unless the request
 * had `includeMomentum`. The coordinator sends these tensors back in `initialWeights` on resume.
 */
export const StateSnapshotSchema = z.strictObject({
  type: z.literal('stateSnapshot'),
  requestId: z.int().min(0),
  epoch: z.int().min(0),
  step: z.int().min(0),
  globalStep: z.int().min(0),
  /**
   * Optimizer steps this state has taken (applied or skipped): the global step it trains next.
   * Equals `globalStep` when the request came between rounds; after an aborted round it tells the
   * coordinator whether this survivor applied that round.
   */
  nextGlobalStep: z.int().min(0),
  /** Trainable variables and BatchNorm moving statistics, by name. */
  tensors: z.array(WireTensorSchema),
  momentum: z.array(WireTensorSchema),
});
/** worker → coordinator: full training state. */
export type StateSnapshot = z.infer<typeof StateSnapshotSchema>;

/** Why a side leaves on purpose. */
export const LeaveReasonSchema = z.enum(['finished', 'shutdown', 'evicted']);

/**
 * Either direction, just before a deliberate close: the receiver must not treat the close as a
 * failure. coordinator → workers with `finished` after the last epoch, or `evicted`; worker →
 * coordinator with `shutdown` on SIGTERM.
 */
export const LeaveSchema = z.strictObject({
  type: z.literal('leave'),
  reason: LeaveReasonSchema,
  /** Free text for logs; may be empty. */
  message: z.string().max(4096),
});
/** Either direction: leaving on purpose. */
export type Leave = z.infer<typeof LeaveSchema>;

/**
 * Either direction, just before closing because of a `ProtocolError` after the handshake (before
 * it, the coordinator sends `reject`). `code` is the error's code; the close code follows.
 */
export const ErrorMessageSchema = z.strictObject({
  type: z.literal('error'),
  code: z.string().min(1).max(64),
  message: z.string().max(4096),
});
/** Either direction: why the connection is about to close. */
export type ErrorMessage = z.infer<typeof ErrorMessageSchema>;
