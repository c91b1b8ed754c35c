// Public API of @gnet/protocol: protocol version, every message with its schema and type, the
// codec (MessagePack for control messages, a binary frame for gradient chunks) and ProtocolError.
export { PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS, checkProtocolVersion } from './version.js';
export {
  CLOSE_CODES,
  PROTOCOL_ERRORS,
  PROTOCOL_ERROR_CODES,
  ProtocolError,
  type CloseCode,
  type ProtocolErrorCode,
} from './protocol_error.js';
export {
  BYTES_PER_ELEMENT,
  BytesSchema,
  LITTLE_ENDIAN_HOST,
  TensorDtypeSchema,
  WireDtypeSchema,
  type TensorDtype,
  type WireDtype,
} from './dtype.js';
export {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
  float16BitsFromFloat32BitsGeneral,
  float16Table32,
} from './half_float.js';
export { getFloat16Codec, readFloats, setFloat16Codec, viewFloat32, writeFloats, type Float16Codec } from './float_bytes.js';
export { WireTensorSchema, checkTensor, tensorFromFloat32, tensorToFloat32, type WireTensor } from './tensor.js';
export {
  AllReduceAlgorithmSchema,
  AllReduceConfigSchema,
  BucketSchema,
  PeerSchema,
  ShardPlanSchema,
  type AllReduceAlgorithm,
  type AllReduceConfig,
  type Bucket,
  type Peer,
  type ShardPlan,
} from './group_plan.js';
export {
  ChallengeSchema,
  HelloSchema,
  InitialWeightsSchema,
  PeerHelloSchema,
  PeerWelcomeSchema,
  ReadySchema,
  RejectSchema,
  WelcomeSchema,
  type Challenge,
  type Hello,
  type InitialWeights,
  type PeerHello,
  type PeerWelcome,
  type Ready,
  type Reject,
  type Welcome,
} from './handshake_messages.js';
export {
  GradChunkSchema,
  LossSchema,
  MetricsSchema,
  ReducedChunkSchema,
  RoundAbortSchema,
  RoundFailedSchema,
  RoundStartSchema,
  StepTimingsSchema,
  WorkerMemorySchema,
  type ChunkMessage,
  type GradChunk,
  type Metrics,
  type ReducedChunk,
  type RoundAbort,
  type RoundFailed,
  type RoundStart,
  type StepTimings,
  type WorkerMemory,
} from './round_messages.js';
export {
  CheckpointRequestSchema,
  ErrorMessageSchema,
  EvalRequestSchema,
  EvalResultSchema,
  EvalSplitSchema,
  HeartbeatSchema,
  LeaveReasonSchema,
  LeaveSchema,
  StateSnapshotSchema,
  type CheckpointRequest,
  type ErrorMessage,
  type EvalRequest,
  type EvalResult,
  type EvalSplit,
  type Heartbeat,
  type Leave,
  type StateSnapshot,
} from './service_messages.js';
export {
  CHUNK_MESSAGE_TYPES,
  MESSAGE_TYPES,
  MessageSchema,
  isMessageType,
  type Message,
  type MessageOf,
  type MessageType,
} from './message.js';
export { DEFAULT_MAX_FRAME_BYTES, HANDSHAKE_MAX_FRAME_BYTES, type DecodeOptions } from './frame_size.js';
export {
  CHUNK_HEADER_BYTES,
  CHUNK_MAGIC,
  chunkFrameBytes,
  decodeChunk,
  encodeChunk,
  encodeChunkInto,
  isChunkFrame,
  writeChunkHeader,
  type ChunkHeader,
  type ChunkHeaderInit,
} from './chunk_frame.js';
export { addChunkInto, chunkFloats, readChunkInto } from './chunk_floats.js';
export { checkSemantics } from './check_semantics.js';
export { decodeMessage, encodeMessage, type DecodeMessageOptions } from './codec.js';
export { expectMessage } from './expect_message.js';
export {
  AUTH_LABELS,
  createNonce,
  helloProof,
  NONCE_BYTES,
  PROOF_BYTES,
  peerHelloProof,
  peerWelcomeProof,
  proofMatches,
  welcomeProof,
  type ConnectionNonces,
  type PeerIdentity,
} from './auth.js';
export {
  checkHelloProof,
  checkPeerHello,
  checkPeerHelloProof,
  checkPeerWelcomeProof,
  checkWelcomeProof,
  errorFromReject,
  errorMessageFor,
  rejectFor,
  type PeerExpectation,
} from './handshake.js';
