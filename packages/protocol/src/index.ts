// Public API of @gnet/protocol, as far as other projects use it: protocol version, the message
// types and their union's schema, the codec (MessagePack for control messages, a binary frame for
// gradient chunks), the handshake proofs and ProtocolError. Each message's own schema stays in its
// module (handshake_messages.ts, round_messages.ts, service_messages.ts).
export { PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from './version.js';
export { PROTOCOL_ERRORS, ProtocolError, type ProtocolErrorCode } from './protocol_error.js';
export { BYTES_PER_ELEMENT, type WireDtype } from './dtype.js';
export { float16BitsFromFloat32BitsGeneral, float16Table32 } from './half_float.js';
export { getFloat16Codec, readFloats, setFloat16Codec, writeFloats, type Float16Codec } from './float_bytes.js';
export { tensorFromFloat32, tensorToFloat32, type WireTensor } from './tensor.js';
export type { AllReduceAlgorithm, AllReduceConfig, Bucket, Peer, ShardPlan } from './group_plan.js';
export { HelloSchema, type Hello, type InitialWeights, type PeerHello, type Ready, type Welcome } from './handshake_messages.js';
export type { ChunkMessage, Metrics, RoundAbort, RoundFailed, RoundStart, StepTimings, WorkerMemory } from './round_messages.js';
export type { CheckpointRequest, EvalRequest, EvalResult, EvalSplit, Leave, StateSnapshot } from './service_messages.js';
export { MessageSchema, type Message, type MessageOf, type MessageType } from './message.js';
export { DEFAULT_MAX_FRAME_BYTES, HANDSHAKE_MAX_FRAME_BYTES } from './frame_size.js';
export {
  CHUNK_HEADER_BYTES,
  chunkFrameBytes,
  decodeChunk,
  encodeChunkInto,
  isChunkFrame,
  writeChunkHeader,
  type ChunkHeader,
  type ChunkHeaderInit,
} from './chunk_frame.js';
export { addChunkInto, chunkFloats, readChunkInto } from './chunk_floats.js';
export { decodeMessage, encodeMessage } from './codec.js';
export {
  createNonce,
  helloProof,
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
} from './handshake.js';
