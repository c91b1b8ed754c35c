// Messages of the handshake and of group formation: challenge → hello → welcome | reject,
// initialWeights, challenge → peerHello → peerWelcome, ready. Each is declared once: `type`,
// schema, inferred type, and who sends it when (after horovod's message.fbs). The steps in order
// are in the package README; the proofs are computed in auth.ts.
import { HyperParamsSchema, ModelConfigSchema } from '@gnet/recipe';
import { z } from 'zod';
import { NONCE_BYTES, PROOF_BYTES } from './auth.js';
import { BytesSchema } from './dtype.js';
import { AllReduceConfigSchema, BucketSchema, PeerSchema, ShardPlanSchema } from './group_plan.js';
import { WireTensorSchema } from './tensor.js';

/** Run id chosen by the coordinator at start-up, e.g. `2025-01-31T12-00-00Z-3f9a`. */
const RunIdSchema = z.string().min(1).max(128);

/** A fresh random nonce: exactly {@link NONCE_BYTES} bytes. */
const NonceSchema = BytesSchema.refine((bytes) => bytes.byteLength === NONCE_BYTES, `expected ${NONCE_BYTES} bytes`);
/** An HMAC-SHA256 proof ({@link PROOF_BYTES} bytes), or empty when the sender has no secret. */
const ProofSchema = BytesSchema.refine(
  (bytes) => bytes.byteLength === PROOF_BYTES || bytes.byteLength === 0,
  `expected ${PROOF_BYTES} bytes (or none without a secret)`,
);

/**
 * coordinator → worker and peer listener → dialing worker: the first message on every new
 * connection, sent by the accepting side before it reads anything, with a fresh random nonce the
 * client's proof must cover (so a recorded `hello` is worthless on another connection). Sent
 * whether or not a secret is configured. Its layout never changes between protocol versions.
 */
export const ChallengeSchema = z.strictObject({
  type: z.literal('challenge'),
  /** The server's nonce for this connection. */
  nonce: NonceSchema,
});
/** server → client: first message of a connection. */
export type Challenge = z.infer<typeof ChallengeSchema>;

/**
 * worker → coordinator, the first message the worker sends on a new connection, in reply to
 * `challenge`. Its layout never changes between protocol versions, so any coordinator can read
 * `protocolVersion` and refuse a mismatch with a `reject` the worker can still read.
 * `peer` is null unless the worker listens for ring connections (it always does when the
 * coordinator may pick `ring`).
 */
export const HelloSchema = z.strictObject({
  type: z.literal('hello'),
  /** The sender's `PROTOCOL_VERSION`; checked before the rest of the schema. */
  protocolVersion: z.int(),
  /** The worker's own fresh nonce; the coordinator's `welcome.serverProof` must cover it. */
  nonce: NonceSchema,
  /** `helloProof(secret, nonces, workerId)` (auth.ts); empty when the worker has no secret. */
  proof: ProofSchema,
  /** Stable name of the worker process (e.g. hostname and pid); a reconnecting worker reuses it. */
  workerId: z.string().min(1).max(128),
  /** tfjs backend name: `cpu`, `wasm`, `tensorflow`, `webgl`... */
  backend: z.string().min(1).max(64),
  /** Human-readable device, e.g. `8x Intel Xeon @ 2.2GHz, 31 GiB` or a GPU name. */
  device: z.string().max(256),
  /** Where the worker's peer listener accepts ring connections; `tls`: it serves `wss://`. */
  peer: z.strictObject({ host: z.string().min(1).max(253), port: z.int().min(1).max(65535), tls: z.boolean() }).nullable(),
});
/** worker → coordinator: first message of a connection. */
export type Hello = z.infer<typeof HelloSchema>;

/**
 * coordinator → worker, once the group is formed (all `worldSize` workers said hello), in reply
 * to an accepted `hello`. Sent again with a new `generation` when the coordinator re-forms the
 * group after losing a worker. `peers` is empty unless `allReduce.algorithm` is `ring`; then it
 * lists every rank's peer listener, in rank order.
 */
export const WelcomeSchema = z.strictObject({
  type: z.literal('welcome'),
  /** This worker's rank, `0 <= rank < worldSize`. */
  rank: z.int().min(0),
  worldSize: z.int().min(1),
  runId: RunIdSchema,
  /** Incremented each time the coordinator (re)forms the group; peers refuse other generations. */
  generation: z.int().min(0),
  /** How often the worker sends `heartbeat`, in milliseconds. */
  heartbeatMs: z.int().min(1),
  hyper: HyperParamsSchema,
  model: ModelConfigSchema,
  shard: ShardPlanSchema,
  /** Gradient buckets over the flat float32 parameter vector; their lengths sum to the parameter count. */
  buckets: z.array(BucketSchema).min(1),
  allReduce: AllReduceConfigSchema,
  peers: z.array(PeerSchema),
  /** `welcomeProof(secret, nonces)` of this connection (auth.ts): the coordinator knows the secret too. Empty without a secret. */
  serverProof: ProofSchema,
});
/** coordinator → worker: rank, settings and group layout. */
export type Welcome = z.infer<typeof WelcomeSchema>;

/**
 * coordinator → worker, in reply to a `hello` it refuses; the coordinator then closes the
 * connection. `code` is a `ProtocolErrorCode` (`PROTO_VERSION`, `PROTO_AUTH`, ...) or one of the
 * coordinator's own (`GROUP_FULL`, `DUPLICATE_WORKER`, `RUN_IN_PROGRESS`). Like `hello`, its
 * layout never changes between versions.
 */
export const RejectSchema = z.strictObject({
  type: z.literal('reject'),
  code: z.string().min(1).max(64),
  message: z.string().max(4096),
});
/** coordinator → worker: the hello was refused. */
export type Reject = z.infer<typeof RejectSchema>;

/**
 * coordinator → worker, right after `welcome`: the weights to start from and where training
 * resumes. `tensors` is empty only on a fresh run, where every worker initialises from
 * `hyper.seed`; otherwise they are a checkpoint's (`--resume`) or, when the group is re-formed
 * after a loss or a join, one survivor's current state. `momentum` is empty unless that state
 * holds SGD momentum buffers (same names as the variables they belong to).
 */
export const InitialWeightsSchema = z.strictObject({
  type: z.literal('initialWeights'),
  generation: z.int().min(0),
  /** The all-reduce round of this generation's weights check (round numbers are never reused, see `roundStart.round`). */
  round: z.int().min(0).max(0xffffffff),
  /** Epoch to resume in (0-based). */
  epoch: z.int().min(0),
  /** Step within `epoch` to resume at (0-based). */
  step: z.int().min(0),
  /** Optimizer steps taken before this state (`epoch × stepsPerEpoch + step`). */
  globalStep: z.int().min(0),
  /** Trainable variables and BatchNorm moving statistics, by name. */
  tensors: z.array(WireTensorSchema),
  momentum: z.array(WireTensorSchema),
});
/** coordinator → worker: weights to start from. */
export type InitialWeights = z.infer<typeof InitialWeightsSchema>;

/**
 * worker → worker, the first message the dialing side sends on a ring (or star hub) connection,
 * in reply to the listener's `challenge` (rank r connects to rank (r + 1) mod worldSize). The
 * listening side checks version, proof, then run, generation and rank, and closes with the
 * matching error otherwise. Layout frozen like `hello`.
 */
export const PeerHelloSchema = z.strictObject({
  type: z.literal('peerHello'),
  protocolVersion: z.int(),
  runId: RunIdSchema,
  generation: z.int().min(0),
  /** The connecting worker's rank. */
  rank: z.int().min(0),
  /** The dialer's own fresh nonce; `peerWelcome.serverProof` must cover it. */
  nonce: NonceSchema,
  /** `peerHelloProof(secret, nonces, { runId, generation, rank })` (auth.ts); empty without a secret. */
  proof: ProofSchema,
});
/** worker → worker: first message on a ring connection. */
export type PeerHello = z.infer<typeof PeerHelloSchema>;

/**
 * peer listener → dialing worker, as soon as the `peerHello`'s proof checks out (before the
 * listener's owner has matched its run, generation and rank, which may close the connection
 * later with `PROTO_PEER_MISMATCH`): the listener proves it knows the secret too. The dialer
 * sends nothing else until this arrived and checked out.
 */
export const PeerWelcomeSchema = z.strictObject({
  type: z.literal('peerWelcome'),
  /** `peerWelcomeProof(secret, nonces)` of this connection (auth.ts); empty without a secret. */
  serverProof: ProofSchema,
});
/** peer listener → worker: the listener's proof. */
export type PeerWelcome = z.infer<typeof PeerWelcomeSchema>;

/**
 * worker → coordinator, once its weights are loaded and (for the ring) both neighbour
 * connections are open. The coordinator starts round 1 of a generation when all ranks are ready.
 */
export const ReadySchema = z.strictObject({
  type: z.literal('ready'),
  generation: z.int().min(0),
});
/** worker → coordinator: ready for the first round. */
export type Ready = z.infer<typeof ReadySchema>;
