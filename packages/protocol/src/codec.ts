// The one codec: every message to bytes and back. Control messages are plain MessagePack
// (msgpackr with its extensions off); gradient chunks use the binary frame of chunk_frame.ts.
// Decoding checks, in order: frame size, unpack, schema, semantic checks (STYLE.md), each
// failure a ProtocolError with a stable code, like ws's Receiver.
import { C1, FLOAT32_OPTIONS, Packr } from 'msgpackr';
import type { z } from 'zod';
import { checkSemantics } from './check_semantics.js';
import { decodeChunk, encodeChunk, isChunkFrame } from './chunk_frame.js';
import { expectMessage } from './expect_message.js';
import { assertPlainMessagePack } from './plain_msgpack.js';
import { checkFrameSize, type DecodeOptions } from './frame_size.js';
import { CHUNK_MESSAGE_TYPES, isMessageType, MessageSchema, type Message, type MessageType } from './message.js';
import { ProtocolError } from './protocol_error.js';
import { checkProtocolVersion, PROTOCOL_VERSION } from './version.js';

/**
 * The single MessagePack encoder/decoder. Every option that makes msgpackr write something other
 * than plain MessagePack is off, so any MessagePack library can read our frames and the golden
 * fixtures pin exact bytes.
 */
const packr = new Packr({
  // msgpackr's default "records" replace repeated maps by a non-standard extension (0xd4 0x72)
  // plus numeric record ids; off, so every object is a plain map.
  useRecords: false,
  // Maps decode to plain objects, which is what the schemas take (implied by useRecords: false).
  mapsAsObjects: true,
  // Typed arrays and ArrayBuffers go out as plain `bin`, not msgpackr's typed-array extension (0x74).
  moreTypes: false,
  // No reference/cycle extension (0x70) and no bundled-strings extension (0x62).
  structuredClone: false,
  bundleStrings: false,
  // Smallest map header (fixmap below 16 keys) instead of always map16: the canonical encoding.
  variableMapSize: true,
  // `undefined` becomes nil, never msgpackr's undefined extension (schemas use null, not undefined).
  encodeUndefinedAsNil: true,
  // Non-integers always float64, so lr and losses keep full precision.
  useFloat32: FLOAT32_OPTIONS.NEVER,
  // `bin` decodes as a view into the received frame, not a copy: tensors cost no copy on arrival.
  copyBuffers: false,
  // 64-bit ints (we never write them: msgpackr writes integers beyond 32 bits as float64) decode
  // as BigInt, which every number field's schema then refuses instead of silently rounding.
});

/** Options of {@link decodeMessage}. */
export interface DecodeMessageOptions extends DecodeOptions {
  /** Types allowed in the receiver's current state; any other fails with `PROTO_UNEXPECTED`. */
  expect?: readonly MessageType[];
}

/** One line naming the first schema issues: `hyper.lrPeak: Too small: expected number to be >0`. */
function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  const shown = issues.slice(0, 3).map((issue) => {
    const path = issue.path.map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`)).join('');
    return `${path === '' ? '(message)' : path.slice(path.startsWith('.') ? 1 : 0)}: ${issue.message}`;
  });
  const more = issues.length > 3 ? ` (+${issues.length - 3} more)` : '';
  return shown.join('; ') + more;
}

/** True for what msgpackr makes of a MessagePack map: an object with the plain prototype. */
function isPlainMap(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'binary';
  if (isPlainMap(value)) return 'a map without a string `type`';
  // Extensions are refused before unpacking (plain_msgpack.ts); kept for any other object kind.
  if (typeof value === 'object') return `an object (${value.constructor.name})`;
  return `a ${typeof value}`;
}

/**
 * Encodes a message: MessagePack for control messages, a chunk frame for `gradChunk` /
 * `reducedChunk`. The message is checked against its schema and invariants first (a failure is a
 * bug on our side: `PROTO_ENCODE`), and encoded from the parsed copy, so keys always go out in
 * schema order whatever order the caller built them in.
 *
 * The result is a view into msgpackr's working buffer; msgpackr never writes over it again, so
 * it can be handed to a socket as is. Packing a large message (`initialWeights`) into a fresh
 * buffer costs page faults; chunks, the only per-step bulk traffic, go through
 * `encodeChunkInto` instead.
 */
export function encodeMessage(message: Message): Uint8Array {
  const parsed = MessageSchema.safeParse(message);
  if (!parsed.success) {
    const type = typeof (message as { type?: unknown }).type === 'string' ? (message as { type: string }).type : '?';
    throw new ProtocolError(
      'PROTO_ENCODE',
      `encodeMessage: message '${type}' does not match its schema: ${describeIssues(parsed.error.issues)}`,
      { cause: parsed.error },
    );
  }
  try {
    checkSemantics(parsed.data);
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    throw new ProtocolError('PROTO_ENCODE', `encodeMessage: ${err.message}`, { cause: err });
  }
  if (parsed.data.type === 'gradChunk' || parsed.data.type === 'reducedChunk') return encodeChunk(parsed.data);
  return packr.pack(parsed.data);
}

/**
 * Decodes one received frame (a MessagePack message or a chunk frame, told apart by the chunk
 * magic). Checks, in order, each failure a `ProtocolError`:
 * 1. frame size against `maxFrameBytes` (`PROTO_FRAME_TOO_LARGE`);
 * 2. unpack: exactly one plain MessagePack value (no extension types), no trailing bytes
 *    (`PROTO_MALFORMED`), or the chunk header (`PROTO_BAD_CHUNK`);
 * 3. a map with a known string `type` (`PROTO_SCHEMA`, `PROTO_UNKNOWN_TYPE`); for `hello` and
 *    `peerHello` the protocol version, before the rest of the schema, so a peer of another version
 *    hears why (`PROTO_VERSION`); then the type's schema (`PROTO_SCHEMA`);
 * 4. semantic checks (`PROTO_SEMANTIC`, `PROTO_BAD_TENSOR`);
 * 5. with `expect`, that the receiver's state allows the type (`PROTO_UNEXPECTED`).
 *
 * Binary fields (tensor `bytes`, chunk payloads) are views into `frame`: do not reuse the frame's
 * memory while the message is in use.
 */
export function decodeMessage(frame: Uint8Array | ArrayBuffer, options?: DecodeMessageOptions): Message {
  const bytes = frame instanceof Uint8Array ? frame : new Uint8Array(frame);
  checkFrameSize(bytes.byteLength, options);
  const message = isChunkFrame(bytes) ? decodeChunk(bytes, options) : decodeMsgpack(bytes);
  if (options?.expect !== undefined) expectMessage(message, options.expect);
  return message;
}

function decodeMsgpack(bytes: Uint8Array): Message {
  assertPlainMessagePack(bytes);
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ProtocolError('PROTO_MALFORMED', `Frame of ${bytes.byteLength} bytes is not one complete MessagePack value: ${reason}`, {
      cause: err,
    });
  }
  if (value === C1) {
    // msgpackr turns 0xc1, which the MessagePack spec never uses, into a marker object.
    throw new ProtocolError(
      'PROTO_MALFORMED',
      `Frame of ${bytes.byteLength} bytes is not one complete MessagePack value: 0xc1 is never used`,
    );
  }
  if (!isPlainMap(value) || typeof value.type !== 'string') {
    throw new ProtocolError('PROTO_SCHEMA', `Message must be a MessagePack map with a string \`type\`, but got ${describeValue(value)}`);
  }
  const type = value.type;
  if (!isMessageType(type)) {
    throw new ProtocolError('PROTO_UNKNOWN_TYPE', `Unknown message type '${type.slice(0, 64)}' (protocol version ${PROTOCOL_VERSION})`);
  }
  if ((CHUNK_MESSAGE_TYPES as readonly string[]).includes(type)) {
    throw new ProtocolError('PROTO_SCHEMA', `Message '${type}' must travel as a binary chunk frame, but came as MessagePack`);
  }
  if (type === 'hello' || type === 'peerHello') {
    const version = value.protocolVersion;
    if (typeof version === 'number' && Number.isInteger(version)) checkProtocolVersion(version);
  }
  const parsed = MessageSchema.safeParse(value);
  if (!parsed.success) {
    throw new ProtocolError('PROTO_SCHEMA', `Message '${type}' does not match its schema: ${describeIssues(parsed.error.issues)}`, {
      cause: parsed.error,
    });
  }
  checkSemantics(parsed.data);
  return parsed.data;
}
