// Protocol version and the handshake check, after ws's `Sec-WebSocket-Version` check
// (lib/websocket-server.js): refuse once, at the handshake, naming what is supported.
import { ProtocolError } from './protocol_error.js';

/**
 * The version this build speaks. Bump it on any change to a message schema, to the codec
 * options or to the chunk frame layout (the golden fixtures fail when one of those changes).
 */
export const PROTOCOL_VERSION = 3;

/**
 * Versions this build still accepts in a `hello` / `peerHello`. Only one today: a second entry
 * appears only together with code that speaks both.
 */
export const SUPPORTED_PROTOCOL_VERSIONS: readonly number[] = Object.freeze([PROTOCOL_VERSION]);

/**
 * Throws `PROTO_VERSION` unless `version` is supported.
 *
 * @example
 * checkProtocolVersion(2); // ProtocolError: Unsupported protocol version 2 (supported: 3)
 */
export function checkProtocolVersion(version: number): void {
  if (!SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
    throw new ProtocolError(
      'PROTO_VERSION',
      `Unsupported protocol version ${String(version)} (supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`,
    );
  }
}
