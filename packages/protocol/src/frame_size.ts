// Frame size limits: the first check on every received frame, before any byte is parsed
// (ws's `maxPayload` does the same one layer down; set both to the same value).
import { ProtocolError } from './protocol_error.js';

/**
 * Default largest frame accepted, in bytes: 128 MiB. The biggest message is `initialWeights` or
 * `stateSnapshot` with momentum: GoogLeNet at width 1 has ~6.2 M parameters, so ~25 MB of
 * weights plus ~25 MB of momentum in float32; 128 MiB leaves room for width 2.
 */
export const DEFAULT_MAX_FRAME_BYTES = 128 * 1024 * 1024;

/**
 * Largest first frame accepted before a connection has been authenticated, in bytes (64 KiB):
 * a `hello` is a few hundred bytes, and a stranger should not make us parse megabytes.
 */
export const HANDSHAKE_MAX_FRAME_BYTES = 64 * 1024;

/** Options of every decoding function. */
export interface DecodeOptions {
  /** Largest frame accepted, in bytes; default {@link DEFAULT_MAX_FRAME_BYTES}. */
  maxFrameBytes?: number;
}

/** Throws `PROTO_FRAME_TOO_LARGE` when `byteLength` exceeds the limit of `options`. */
export function checkFrameSize(byteLength: number, options: DecodeOptions | undefined): void {
  const maxFrameBytes = options?.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  if (byteLength > maxFrameBytes) {
    throw new ProtocolError('PROTO_FRAME_TOO_LARGE', `Frame of ${byteLength} bytes exceeds maxFrameBytes (${maxFrameBytes})`);
  }
}
