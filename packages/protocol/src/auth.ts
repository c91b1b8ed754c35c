// Mutual challenge-response authentication with a shared secret, HMAC-SHA256 (RFC 2104) over a
// domain-separated transcript; the secret itself never crosses the wire. The server (coordinator,
// or a worker's peer listener) opens every connection with a fresh `challenge` nonce; the client
// answers with its own nonce and a proof over both nonces and who it claims to be; the server
// proves itself back over the same nonces with another label, so neither proof can be replayed
// on another connection or reflected as the other side's (the shape of SCRAM, RFC 5802, without
// the password hashing: the secret is a random token, not a password). Steps in the README.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Bytes of every nonce: 256 random bits, never repeated in practice. */
export const NONCE_BYTES = 32;
/** Bytes of an HMAC-SHA256 proof; an empty proof means "no secret configured". */
export const PROOF_BYTES = 32;

/** Labels that separate the four proofs, so one can never stand in for another. */
export const AUTH_LABELS = Object.freeze({
  hello: 'gnet/hello/v1',
  welcome: 'gnet/welcome/v1',
  peerHello: 'gnet/peer-hello/v1',
  peerWelcome: 'gnet/peer-welcome/v1',
});

/** A field of a transcript: raw bytes (nonces), a string (ids) or a non-negative integer. */
type Field = Uint8Array | string | number;

/**
 * The bytes a proof signs: the label, a 0 byte, then each field — bytes as they are (nonces have
 * a fixed length), strings as a big-endian uint16 byte length plus UTF-8, integers as big-endian
 * uint64 — so no two different transcripts have the same bytes.
 */
export function transcript(label: string, fields: readonly Field[]): Buffer {
  const parts: Buffer[] = [Buffer.from(label, 'utf8'), Buffer.alloc(1)];
  for (const field of fields) {
    if (typeof field === 'string') {
      const text = Buffer.from(field, 'utf8');
      const length = Buffer.alloc(2);
      length.writeUInt16BE(text.byteLength);
      parts.push(length, text);
    } else if (typeof field === 'number') {
      const value = Buffer.alloc(8);
      value.writeBigUInt64BE(BigInt(field));
      parts.push(value);
    } else {
      parts.push(Buffer.from(field.buffer, field.byteOffset, field.byteLength));
    }
  }
  return Buffer.concat(parts);
}

/** HMAC-SHA256 of a transcript keyed by the UTF-8 secret; empty when there is no secret. */
function prove(secret: string, label: string, fields: readonly Field[]): Uint8Array {
  if (secret === '') return new Uint8Array(0);
  return new Uint8Array(createHmac('sha256', Buffer.from(secret, 'utf8')).update(transcript(label, fields)).digest());
}

/** A fresh random nonce of {@link NONCE_BYTES}. */
export function createNonce(): Uint8Array {
  return new Uint8Array(randomBytes(NONCE_BYTES));
}

/** The two nonces of one connection: the server's (from `challenge`) and the client's. */
export interface ConnectionNonces {
  serverNonce: Uint8Array;
  clientNonce: Uint8Array;
}

/** `hello.proof`: HMAC(secret, "gnet/hello/v1" ‖ 0 ‖ serverNonce ‖ clientNonce ‖ workerId). */
export function helloProof(secret: string, nonces: ConnectionNonces, workerId: string): Uint8Array {
  return prove(secret, AUTH_LABELS.hello, [nonces.serverNonce, nonces.clientNonce, workerId]);
}

/** `welcome.serverProof`: HMAC(secret, "gnet/welcome/v1" ‖ 0 ‖ clientNonce ‖ serverNonce). */
export function welcomeProof(secret: string, nonces: ConnectionNonces): Uint8Array {
  return prove(secret, AUTH_LABELS.welcome, [nonces.clientNonce, nonces.serverNonce]);
}

/** Who a `peerHello` speaks for: run, group generation and the dialing rank. */
export interface PeerIdentity {
  runId: string;
  generation: number;
  rank: number;
}

/** `peerHello.proof`: HMAC(secret, "gnet/peer-hello/v1" ‖ 0 ‖ serverNonce ‖ clientNonce ‖ runId ‖ generation ‖ rank). */
export function peerHelloProof(secret: string, nonces: ConnectionNonces, peer: PeerIdentity): Uint8Array {
  return prove(secret, AUTH_LABELS.peerHello, [nonces.serverNonce, nonces.clientNonce, peer.runId, peer.generation, peer.rank]);
}

/** `peerWelcome.serverProof`: HMAC(secret, "gnet/peer-welcome/v1" ‖ 0 ‖ clientNonce ‖ serverNonce). */
export function peerWelcomeProof(secret: string, nonces: ConnectionNonces): Uint8Array {
  return prove(secret, AUTH_LABELS.peerWelcome, [nonces.clientNonce, nonces.serverNonce]);
}

/**
 * True when `given` equals `expected`, compared in constant time (crypto.timingSafeEqual) so
 * timing tells an attacker nothing about how many bytes matched. Lengths are public (a proof is
 * 32 bytes or empty), so a length mismatch returns false at once.
 */
export function proofMatches(expected: Uint8Array, given: Uint8Array): boolean {
  if (expected.byteLength !== given.byteLength) return false;
  return timingSafeEqual(expected, given);
}
