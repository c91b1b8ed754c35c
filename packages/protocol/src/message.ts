// The one discriminated union of every message, on `type` (like tfjs's kernel_names.ts, one place
// lists them all). Declarations with their docs live in handshake_messages.ts, round_messages.ts
// and service_messages.ts.
import { z } from 'zod';
import {
  ChallengeSchema,
  HelloSchema,
  InitialWeightsSchema,
  PeerHelloSchema,
  PeerWelcomeSchema,
  ReadySchema,
  RejectSchema,
  WelcomeSchema,
} from './handshake_messages.js';
import {
  GradChunkSchema,
  MetricsSchema,
  ReducedChunkSchema,
  RoundAbortSchema,
  RoundFailedSchema,
  RoundStartSchema,
} from './round_messages.js';
import {
  CheckpointRequestSchema,
  ErrorMessageSchema,
  EvalRequestSchema,
  EvalResultSchema,
  HeartbeatSchema,
  LeaveSchema,
  StateSnapshotSchema,
} from './service_messages.js';

/** Every message of the protocol, discriminated on `type`. */
export const MessageSchema = z.discriminatedUnion('type', [
  ChallengeSchema,
  HelloSchema,
  WelcomeSchema,
  RejectSchema,
  InitialWeightsSchema,
  PeerHelloSchema,
  PeerWelcomeSchema,
  ReadySchema,
  RoundStartSchema,
  RoundAbortSchema,
  RoundFailedSchema,
  GradChunkSchema,
  ReducedChunkSchema,
  MetricsSchema,
  HeartbeatSchema,
  EvalRequestSchema,
  EvalResultSchema,
  CheckpointRequestSchema,
  StateSnapshotSchema,
  LeaveSchema,
  ErrorMessageSchema,
]);

/** Any protocol message. */
export type Message = z.infer<typeof MessageSchema>;

/** The `type` literal of any message. */
export type MessageType = Message['type'];

/** The message whose `type` is `T`, e.g. `MessageOf<'welcome'>`. */
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

/** Every message type, in declaration order. */
export const MESSAGE_TYPES: readonly MessageType[] = Object.freeze(MessageSchema.options.map((option) => option.shape.type.value));

/** True when `type` names a message of this protocol version. */
export function isMessageType(type: string): type is MessageType {
  return (MESSAGE_TYPES as readonly string[]).includes(type);
}

/** Message types that travel as binary chunk frames instead of MessagePack. */
export const CHUNK_MESSAGE_TYPES = Object.freeze(['gradChunk', 'reducedChunk'] as const);
