// Checks and replies of the handshake (steps in the package README): the token in `hello`, the
// run and generation in `peerHello`, and turning a ProtocolError into the `reject` / `error`
// message that tells the peer why before the connection closes.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Hello, PeerHello, Reject } from './handshake_messages.js';
import { ProtocolError } from './protocol_error.js';
import type { ErrorMessage } from './service_messages.js';

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Throws `PROTO_AUTH` unless `hello.token` equals `expectedToken`. Compares SHA-256 digests in
 * constant time, so neither the token's length nor its prefix leaks through timing. The message
 * never contains either token. An empty `expectedToken` accepts any hello (no auth configured).
 */
export function checkHelloToken(hello: Hello, expectedToken: string): void {
  if (expectedToken === '') return;
  if (!timingSafeEqual(digest(hello.token), digest(expectedToken))) {
    throw new ProtocolError('PROTO_AUTH', `hello.token from worker '${hello.workerId}' does not match the coordinator's token`);
  }
}

/** What a worker's peer listener expects of a `peerHello`, from its own `welcome`. */
export interface PeerExpectation {
  runId: string;
  generation: number;
  /** Rank allowed to connect: the left neighbour in the ring, `(rank - 1 + worldSize) % worldSize`. */
  rank: number;
}

/** Throws `PROTO_PEER_MISMATCH` unless `peerHello` comes from the expected run, generation and rank. */
export function checkPeerHello(peerHello: PeerHello, expected: PeerExpectation): void {
  if (peerHello.runId !== expected.runId) {
    throw new ProtocolError(
      'PROTO_PEER_MISMATCH',
      `peerHello.runId must be '${expected.runId}', but got '${peerHello.runId}'`,
    );
  }
  if (peerHello.generation !== expected.generation) {
    throw new ProtocolError(
      'PROTO_PEER_MISMATCH',
      `peerHello.generation must be ${expected.generation} (this group), but got ${peerHello.generation}`,
    );
  }
  if (peerHello.rank !== expected.rank) {
    throw new ProtocolError(
      'PROTO_PEER_MISMATCH',
      `peerHello.rank must be ${expected.rank} (the left neighbour), but got ${peerHello.rank}`,
    );
  }
}

/** The `reject` the coordinator sends for an error found while handling a `hello`. */
export function rejectFor(err: ProtocolError): Reject {
  return { type: 'reject', code: err.code, message: err.message.slice(0, 4096) };
}

/** The `error` message to send before closing with `err.closeCode` after the handshake. */
export function errorMessageFor(err: ProtocolError): ErrorMessage {
  return { type: 'error', code: err.code, message: err.message.slice(0, 4096) };
}

/**
 * The error a worker raises when its `hello` was refused (`PROTO_REJECTED`), naming the
 * coordinator's code and reason.
 *
 * @example
 * errorFromReject({ type: 'reject', code: 'PROTO_VERSION', message: 'Unsupported protocol version 3 (supported: 1)' }).message
 * // "Coordinator rejected hello with PROTO_VERSION: Unsupported protocol version 3 (supported: 1)"
 */
export function errorFromReject(reject: Reject): ProtocolError {
  return new ProtocolError('PROTO_REJECTED', `Coordinator rejected hello with ${reject.code}: ${reject.message}`);
}
