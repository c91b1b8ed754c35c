// Hostile first frames for the live socket fuzz (fuzz_socket.test.ts), from a seeded generator:
// garbage, byte mutations of a valid hello, well-formed hellos with a wrong proof or token or an
// unsupported version, other message types, frames over the 64 KiB first-frame limit, text
// frames, empty frames and bursts. The hello is built from `HelloSchema`'s own field list, so the
// generator follows the handshake as it changes (token, or nonce and HMAC proof).
import { Rng } from '@gnet/data';
import {
  chunkFrameBytes,
  encodeChunkInto,
  encodeMessage,
  HANDSHAKE_MAX_FRAME_BYTES,
  HelloSchema,
  PROTOCOL_VERSION,
  type Message,
} from '@gnet/protocol';

/** One WebSocket frame the fuzz client sends. */
export interface FuzzFrame {
  data: Uint8Array | string;
  /** false: a text frame (opcode 1), which the protocol never uses. */
  binary: boolean;
}

/** What one fuzz connection does: its frames, and whether it waits for the server's first message. */
export interface FuzzPlan {
  kind: string;
  frames: FuzzFrame[];
  /** Send only after the server's first message (its `challenge`), as a real worker does. */
  afterChallenge: boolean;
}

function randomBytes(rng: Rng, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = rng.int(256);
  return out;
}

function randomText(rng: Rng, length: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz{}[]":,0123456789 \u00e9\u4e2d\u{1f600}';
  const chars = [...alphabet];
  return Array.from({ length }, () => chars[rng.int(chars.length)]!).join('');
}

/** A value for each `hello` field this fuzz knows; an unknown field fails loudly. */
function helloField(key: string, rng: Rng, version: number, n: number): unknown {
  switch (key) {
    case 'type':
      return 'hello';
    case 'protocolVersion':
      return version;
    case 'token':
      return randomText(rng, rng.int(40));
    case 'nonce':
      return randomBytes(rng, 32);
    case 'proof':
      // Empty (a worker without a secret) or 32 random bytes: both wrong for a coordinator with one.
      return rng.int(4) === 0 ? new Uint8Array(0) : randomBytes(rng, 32);
    case 'workerId':
      return `fuzz-${n}`;
    case 'backend':
      return 'wasm';
    case 'device':
      return 'fuzz client';
    case 'peer':
      return null;
    default:
      throw new Error(`the socket fuzz does not know hello field '${key}'; teach helloField`);
  }
}

/** A schema-valid `hello` frame with a random (so wrong) token or proof. */
export function helloFrame(rng: Rng, n: number, version = PROTOCOL_VERSION): Uint8Array {
  const hello = Object.fromEntries(Object.keys(HelloSchema.shape).map((key) => [key, helloField(key, rng, version, n)]));
  return encodeMessage(hello as Message);
}

/** Valid frames of types a coordinator never accepts first (chunks, ready, heartbeat, leave...). */
function otherTypeFrames(): Uint8Array[] {
  const candidates: unknown[] = [
    { type: 'ready', generation: 0 },
    { type: 'heartbeat', sentAtMs: 1 },
    { type: 'leave', reason: 'finished', message: 'fuzz' },
    { type: 'roundAbort', round: 1, reason: 'fuzz' },
    { type: 'reject', code: 'PROTO_AUTH', message: 'fuzz' },
  ];
  const frames: Uint8Array[] = [];
  for (const c of candidates) {
    try {
      frames.push(encodeMessage(c as Message));
    } catch {
      // A schema changed under us: that type is simply not tried.
    }
  }
  const chunk = new Uint8Array(chunkFrameBytes(4, 'float32'));
  encodeChunkInto(chunk, { type: 'gradChunk', round: 1, bucket: 0, chunk: 0, offset: 0, dtype: 'float32', rank: 0 }, new Float32Array(4));
  frames.push(chunk);
  return frames;
}

/** Byte-level mutations of a valid frame: flips, sets, truncation, extension. */
function mutate(rng: Rng, frame: Uint8Array): Uint8Array {
  let out = frame.slice();
  const ops = 1 + rng.int(4);
  for (let k = 0; k < ops; k++) {
    const op = rng.int(5);
    if (op === 0 && out.length > 0) out[rng.int(out.length)]! ^= 1 << rng.int(8);
    else if (op === 1 && out.length > 0) out[rng.int(out.length)] = rng.int(256);
    else if (op === 2) out = out.slice(0, rng.int(out.length + 1));
    else if (op === 3) out = Uint8Array.from([...out, ...randomBytes(rng, 1 + rng.int(16))]);
    else if (out.length > 0) out[rng.int(out.length)] = [0xc1, 0xc4, 0xc6, 0xdb, 0xdd, 0xdf, 0xff, 0x00][rng.int(8)]!;
  }
  return out;
}

/**
 * The plans of connections `0..count-1`, derived from `seed` alone (each connection has its own
 * stream, so the same seed gives the same frames whatever the concurrency).
 */
export class FuzzPlanner {
  private readonly others = otherTypeFrames();

  constructor(
    private readonly seed: number,
    /** The server sends a first message (`challenge`): half the plans wait for it. */
    private readonly serverSpeaksFirst: boolean,
  ) {}

  plan(n: number): FuzzPlan {
    const rng = new Rng(this.seed * 1_000_003 + n);
    const afterChallenge = this.serverSpeaksFirst && rng.int(2) === 0;
    const bin = (data: Uint8Array): FuzzFrame => ({ data, binary: true });
    const roll = rng.int(100);
    if (roll < 20) return { kind: 'garbage', frames: [bin(randomBytes(rng, rng.int(257)))], afterChallenge };
    if (roll < 45) return { kind: 'mutated hello', frames: [bin(mutate(rng, helloFrame(rng, n)))], afterChallenge };
    if (roll < 60) return { kind: 'wrong proof', frames: [bin(helloFrame(rng, n))], afterChallenge };
    if (roll < 68) {
      const version = [0, 2, 3, 99, 255, 65536, -1, 2 ** 31][rng.int(8)]!;
      return { kind: 'wrong version', frames: [bin(helloFrame(rng, n, version))], afterChallenge };
    }
    if (roll < 75) return { kind: 'other type', frames: [bin(this.others[rng.int(this.others.length)]!)], afterChallenge };
    if (roll < 77) {
      // Just over the first-frame limit, or far over it, as garbage or as a hello padded with junk.
      const length = HANDSHAKE_MAX_FRAME_BYTES + 1 + (rng.int(2) === 0 ? rng.int(64) : rng.int(4 * HANDSHAKE_MAX_FRAME_BYTES));
      const frame = randomBytes(rng, length);
      if (rng.int(2) === 0) frame.set(helloFrame(rng, n));
      return { kind: 'oversized', frames: [bin(frame)], afterChallenge };
    }
    if (roll < 87)
      return {
        kind: 'text',
        frames: [{ data: rng.int(3) === 0 ? '{"type":"hello","protocolVersion":1}' : randomText(rng, rng.int(200)), binary: false }],
        afterChallenge,
      };
    if (roll < 89)
      return {
        kind: 'text, invalid UTF-8',
        frames: [{ data: Uint8Array.from([0x80, 0xff, ...randomBytes(rng, rng.int(32))]), binary: false }],
        afterChallenge,
      };
    if (roll < 92) return { kind: 'empty', frames: [bin(new Uint8Array(0))], afterChallenge };
    // A burst: a wrong hello (or garbage) and more frames right behind it, before any answer.
    const burst = [bin(rng.int(2) === 0 ? helloFrame(rng, n) : randomBytes(rng, rng.int(64)))];
    for (let i = 0, more = 1 + rng.int(4); i < more; i++)
      burst.push(bin(rng.int(2) === 0 ? helloFrame(rng, n) : randomBytes(rng, rng.int(128))));
    return { kind: 'burst', frames: burst, afterChallenge };
  }
}
