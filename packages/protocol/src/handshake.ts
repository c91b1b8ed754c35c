// Checks and replies of the handshake (steps in the package README): the proofs of `hello`,
// `welcome`, `peerHello` and `peerWelcome` (HMAC-SHA256, auth.ts), the run and generation in
// `peerHello`, and turning a ProtocolError into the `reject` / `error` message that tells the peer
// why before the connection closes. No message here ever contains the secret or a proof.
import { helloProof, peerHelloProof, peerWelcomeProof, proofMatches, welcomeProof, type ConnectionNonces } from './auth.js';
import type { Hello, PeerHello, PeerWelcome, Reject, Welcome } from './handshake_messages.js';
import { ProtocolError } from './protocol_error.js';
import type { ErrorMessage } from './service_messages.js';

/** Where to look when two sides disagree about the secret. */
const SECRET_HINT = 'the two sides were given different secrets (--token / GNET_TOKEN), or one has none';

/**
 * Coordinator side: throws `PROTO_AUTH` unless `hello.proof` is `helloProof(secret, ...)` over
 * our challenge nonce and the worker's. An empty `secret` accepts any hello (no authentication).
 */
export function checkHelloProof(hello: Hello, serverNonce: Uint8Array, secret: string): void {
  if (secret === '') return;
  const expected = helloProof(secret, { serverNonce, clientNonce: hello.nonce }, hello.workerId);
  if (!proofMatches(expected, hello.proof)) {
    throw new ProtocolError(
      'PROTO_AUTH',
      `hello.proof from worker '${hello.workerId}' does not match this coordinator's secret: ${SECRET_HINT}`,
    );
  }
}

/**
 * Worker side: throws `PROTO_AUTH` unless `welcome.serverProof` is `welcomeProof(secret, nonces)`,
 * i.e. the coordinator knows our secret too. An empty `secret` accepts any welcome.
 */
export function checkWelcomeProof(welcome: Pick<Welcome, 'serverProof'>, nonces: ConnectionNonces, secret: string): void {
  if (secret === '') return;
  if (!proofMatches(welcomeProof(secret, nonces), welcome.serverProof)) {
    throw new ProtocolError(
      'PROTO_AUTH',
      `welcome.serverProof does not match this worker's secret: the coordinator could not prove it knows it (${SECRET_HINT})`,
    );
  }
}

/** Listener side: throws `PROTO_AUTH` unless `peerHello.proof` matches; an empty `secret` accepts any. */
export function checkPeerHelloProof(peerHello: PeerHello, serverNonce: Uint8Array, secret: string): void {
  if (secret === '') return;
  const expected = peerHelloProof(secret, { serverNonce, clientNonce: peerHello.nonce }, peerHello);
  if (!proofMatches(expected, peerHello.proof)) {
    throw new ProtocolError(
      'PROTO_AUTH',
      `peerHello.proof from rank ${peerHello.rank} does not match this worker's secret: ${SECRET_HINT}`,
    );
  }
}

/** Dialer side: throws `PROTO_AUTH` unless `peerWelcome.serverProof` matches; an empty `secret` accepts any. */
export function checkPeerWelcomeProof(peerWelcome: Pick<PeerWelcome, 'serverProof'>, nonces: ConnectionNonces, secret: string): void {
  if (secret === '') return;
  if (!proofMatches(peerWelcomeProof(secret, nonces), peerWelcome.serverProof)) {
    throw new ProtocolError(
      'PROTO_AUTH',
      `peerWelcome.serverProof does not match this worker's secret: the peer listener could not prove it knows it (${SECRET_HINT})`,
    );
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
    throw new ProtocolError('PROTO_PEER_MISMATCH', `peerHello.runId must be '${expected.runId}', but got '${peerHello.runId}'`);
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
 * errorFromReject({ type: 'reject', code: 'PROTO_VERSION', message: 'Unsupported protocol version 2 (supported: 3)' }).message
 * // "Coordinator rejected hello with PROTO_VERSION: Unsupported protocol version 2 (supported: 3)"
 */
export function errorFromReject(reject: Reject): ProtocolError {
  return new ProtocolError('PROTO_REJECTED', `Coordinator rejected hello with ${reject.code}: ${reject.message}`);
}
