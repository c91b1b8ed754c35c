// ProtocolError and the table of its codes, after ws's `WS_ERR_*` codes (lib/receiver.js):
// each failure has a stable code, a one-line meaning and the WebSocket close code to send.

/**
 * WebSocket close codes (RFC 6455 §7.4.1) used when a protocol error ends a connection.
 * 1002: the peer broke the protocol; 1008: a well-formed message we refuse by policy;
 * 1009: a frame larger than we accept; 1011: we failed ourselves (a bug on the sending side).
 */
export const CLOSE_CODES = {
  protocolError: 1002,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
} as const;

/** One of the close codes in {@link CLOSE_CODES}. */
export type CloseCode = (typeof CLOSE_CODES)[keyof typeof CLOSE_CODES];

/**
 * Every protocol error code, its close code and one line on when it happens.
 * The package README carries the same table; a test keeps the two in step.
 */
export const PROTOCOL_ERRORS = {
  PROTO_FRAME_TOO_LARGE: {
    closeCode: CLOSE_CODES.messageTooBig,
    summary: "The frame is larger than the receiver's `maxFrameBytes`; checked before anything is parsed.",
  },
  PROTO_MALFORMED: {
    closeCode: CLOSE_CODES.protocolError,
    summary:
      'The frame is not one complete plain MessagePack value (truncated, trailing bytes, invalid byte, an extension type), or a handshake frame came as a WebSocket text frame (the protocol is binary only).',
  },
  PROTO_UNKNOWN_TYPE: {
    closeCode: CLOSE_CODES.protocolError,
    summary: "The message's `type` is a string this protocol version does not define.",
  },
  PROTO_SCHEMA: {
    closeCode: CLOSE_CODES.protocolError,
    summary: "The message is not a map with a string `type`, or does not match its type's schema (missing, extra or mistyped field).",
  },
  PROTO_BAD_TENSOR: {
    closeCode: CLOSE_CODES.protocolError,
    summary: "Tensor or chunk bytes disagree with their dtype and element count, or a tensor's shape disagrees with its count.",
  },
  PROTO_BAD_CHUNK: {
    closeCode: CLOSE_CODES.protocolError,
    summary: 'A binary chunk frame has a bad header: too short, wrong magic or version byte, unknown kind or dtype, nonzero reserved byte.',
  },
  PROTO_SEMANTIC: {
    closeCode: CLOSE_CODES.protocolError,
    summary:
      'The message matches its schema but breaks an invariant between fields (rank >= worldSize, overlapping buckets, correct > count...).',
  },
  PROTO_VERSION: {
    closeCode: CLOSE_CODES.policyViolation,
    summary: 'A `hello` or `peerHello` names a protocol version this side does not support.',
  },
  PROTO_AUTH: {
    closeCode: CLOSE_CODES.policyViolation,
    summary:
      "A `hello` / `peerHello` proof, or a `welcome` / `peerWelcome` server proof, does not match this side's shared secret (HMAC-SHA256 over both nonces of the connection).",
  },
  PROTO_HANDSHAKE_TIMEOUT: {
    closeCode: CLOSE_CODES.policyViolation,
    summary: 'A new connection did not send its `hello` / `peerHello` within the handshake deadline; the server drops it.',
  },
  PROTO_PEER_MISMATCH: {
    closeCode: CLOSE_CODES.policyViolation,
    summary:
      'A `peerHello` belongs to another run or group generation, or comes from a rank other than the left neighbour; refused before any `peerWelcome`.',
  },
  PROTO_UNEXPECTED: {
    closeCode: CLOSE_CODES.protocolError,
    summary: 'A valid message arrived in a state that does not allow it (e.g. `gradChunk` before `welcome`).',
  },
  PROTO_REJECTED: {
    closeCode: CLOSE_CODES.policyViolation,
    summary: 'The coordinator answered our `hello` with `reject`; the message carries its code and reason.',
  },
  PROTO_ENCODE: {
    closeCode: CLOSE_CODES.internalError,
    summary: 'We were asked to send a message that breaks its schema, or a chunk into a buffer too small: a bug on the sending side.',
  },
  PROTO_BAD_REPLY: {
    closeCode: CLOSE_CODES.protocolError,
    summary:
      "A well-formed reply disagrees with what it answers (`metrics` whose `count` is not the rank's share of the global batch, whose epoch or step is not the round's, or whose step outlasted the round): the sender is refused.",
  },
} as const satisfies Record<string, { closeCode: CloseCode; summary: string }>;

/** A stable protocol error code: a key of {@link PROTOCOL_ERRORS}. */
export type ProtocolErrorCode = keyof typeof PROTOCOL_ERRORS;

/** All protocol error codes, in table order. */
export const PROTOCOL_ERROR_CODES = Object.keys(PROTOCOL_ERRORS) as ProtocolErrorCode[];

/**
 * The one error class of this package: whoever catches it closes the connection with
 * `closeCode` (after sending an `error` or `reject` message where the peer can still read one).
 *
 * @example
 * try { msg = decodeMessage(frame); }
 * catch (err) { if (err instanceof ProtocolError) socket.close(err.closeCode, err.code); else throw err; }
 */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  /** Stable code; the message text may change, the code does not. */
  readonly code: ProtocolErrorCode;
  /** WebSocket close code to end the connection with. */
  readonly closeCode: CloseCode;

  constructor(code: ProtocolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.closeCode = PROTOCOL_ERRORS[code].closeCode;
  }
}
