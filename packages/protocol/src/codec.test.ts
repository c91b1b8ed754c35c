// Tests of the codec: a round trip for every message type, and each decoding stage (frame size,
// unpack, schema, semantics, state) failing on real bad input with its code and message.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import { decodeMessage, encodeMessage } from './codec.js';
import { sampleInitialWeights, sampleMessages, sampleWelcome } from './fixtures/sample_messages.js';
import { HANDSHAKE_MAX_FRAME_BYTES } from './frame_size.js';
import { MESSAGE_TYPES, type Message } from './message.js';
import { ProtocolError, type ProtocolErrorCode } from './protocol_error.js';
import { tensorToFloat32 } from './tensor.js';

// Plain MessagePack writer for hand-made bad frames (encodeMessage refuses to write them).
const raw = new Packr({ useRecords: false, variableMapSize: true });

function rejects(fn: () => unknown, code: ProtocolErrorCode, message: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ProtocolError, `expected a ProtocolError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

/** Decodes from a fresh copy, so binary fields come back as plain Uint8Array views. */
function roundTrip(message: Message): Message {
  return decodeMessage(new Uint8Array(encodeMessage(message)));
}

describe('round trip', () => {
  const samples = sampleMessages();
  for (const type of MESSAGE_TYPES) {
    it(`decode(encode(${type})) equals the message`, () => {
      const message = samples[type];
      assert.deepStrictEqual(roundTrip(message), message);
    });
  }

  it('has a sample for every message type', () => {
    assert.deepEqual(Object.keys(samples).sort(), [...MESSAGE_TYPES].sort());
  });

  it('decodes from an ArrayBuffer and from a Node Buffer', () => {
    // `reject` has no binary fields: from a Node Buffer, `bin` would decode as Buffer views.
    const bytes = encodeMessage(samples.reject);
    const copy = new Uint8Array(bytes);
    assert.deepStrictEqual(decodeMessage(copy.buffer), samples.reject);
    assert.deepStrictEqual(decodeMessage(Buffer.from(bytes)), samples.reject);
  });

  it('encodes keys in schema order whatever order the caller used', () => {
    const { type, sentAtMs } = samples.heartbeat;
    assert.deepEqual(encodeMessage({ sentAtMs, type } as Message), encodeMessage({ type, sentAtMs }));
  });

  it('keeps NaN and Infinity losses, which a diverging run must be able to report', () => {
    const metrics = { ...samples.metrics, loss: NaN, skipped: true }; // a non-finite loss comes only with a skipped step
    const decoded = roundTrip(metrics);
    assert.ok(decoded.type === 'metrics' && Number.isNaN(decoded.loss));
    const evalResult = roundTrip({ ...samples.evalResult, lossSum: Infinity });
    assert.ok(evalResult.type === 'evalResult' && evalResult.lossSum === Infinity);
  });

  it('hands tensor bytes over as views of the frame, not copies', () => {
    const frame = new Uint8Array(encodeMessage(sampleInitialWeights()));
    const decoded = decodeMessage(frame);
    assert.ok(decoded.type === 'initialWeights');
    const tensor = decoded.tensors[0]!;
    assert.equal(tensor.bytes.buffer, frame.buffer);
    assert.deepEqual(Array.from(tensorToFloat32(tensor)), [0.5, -1.25, 2, 0, -0, 3.5]);
  });
});

describe('decodeMessage stage 1: frame size', () => {
  it('refuses a frame over maxFrameBytes before unpacking it', () => {
    const welcome = encodeMessage(sampleWelcome());
    rejects(
      () => decodeMessage(welcome, { maxFrameBytes: 100 }),
      'PROTO_FRAME_TOO_LARGE',
      `Frame of ${welcome.byteLength} bytes exceeds maxFrameBytes (100)`,
    );
  });

  it('refuses a 70 KB first frame under the handshake limit, even if it is garbage', () => {
    const frame = new Uint8Array(70 * 1024).fill(0xc1);
    rejects(
      () => decodeMessage(frame, { maxFrameBytes: HANDSHAKE_MAX_FRAME_BYTES }),
      'PROTO_FRAME_TOO_LARGE',
      'Frame of 71680 bytes exceeds maxFrameBytes (65536)',
    );
  });

  it('has a close code of 1009', () => {
    try {
      decodeMessage(new Uint8Array(10), { maxFrameBytes: 5 });
      assert.fail('should throw');
    } catch (err) {
      assert.ok(err instanceof ProtocolError);
      assert.equal(err.closeCode, 1009);
    }
  });
});

describe('decodeMessage stage 2: unpack', () => {
  const hello = encodeMessage(sampleMessages().hello);

  it('refuses a truncated frame', () => {
    // The reason after the colon is msgpackr's and varies with where the frame was cut.
    rejects(
      () => decodeMessage(hello.subarray(0, hello.byteLength - 1)),
      'PROTO_MALFORMED',
      new RegExp(`^Frame of ${hello.byteLength - 1} bytes is not one complete MessagePack value: `),
    );
    rejects(
      () => decodeMessage(hello.subarray(0, 60)),
      'PROTO_MALFORMED',
      'Frame of 60 bytes is not one complete MessagePack value: Unexpected end of MessagePack data',
    );
  });

  it('refuses the byte 0xc1, which MessagePack never uses', () => {
    rejects(
      () => decodeMessage(Buffer.from([0xc1])),
      'PROTO_MALFORMED',
      'Frame of 1 bytes is not one complete MessagePack value: 0xc1 is never used',
    );
  });

  it("refuses every extension type, msgpackr's own included (plain MessagePack only)", () => {
    rejects(
      () => decodeMessage(Buffer.from([0xc7, 0x00, 0x0a])),
      'PROTO_MALFORMED',
      'Frame of 3 bytes uses a MessagePack extension (header 0xc7, type 0x0a) at byte 0: the protocol is plain MessagePack without extensions',
    );
    // msgpackr's default "records" (0xd4 0x72 definitions), which its decoder reads whatever its
    // options say: the same heartbeat a default msgpackr encoder writes is refused.
    const heartbeat = sampleMessages().heartbeat;
    const records = new Packr().pack([heartbeat, heartbeat]);
    assert.ok(records.includes(0x72), 'the default encoder wrote a record definition');
    rejects(() => decodeMessage(records), 'PROTO_MALFORMED', /uses a MessagePack extension \(header 0xd4, type 0x72\) at byte 1: /);
    rejects(
      () => decodeMessage(new Packr({ useRecords: false }).pack({ ...heartbeat, sentAtMs: new Date(0) })),
      'PROTO_MALFORMED',
      /type 0xff \(-1\)\) at byte \d+/,
    );
    rejects(
      () => decodeMessage(new Packr({ useRecords: false, moreTypes: true }).pack({ ...heartbeat, extra: new Float32Array(3) })),
      'PROTO_MALFORMED',
      /uses a MessagePack extension/,
    );
  });

  it('reads past extension-like bytes inside strings and binaries', () => {
    const weights = sampleInitialWeights();
    const bytes = weights.tensors[0]!.bytes;
    for (let i = 0; i + 1 < bytes.length; i += 2) [bytes[i], bytes[i + 1]] = [0xd4, 0x72];
    weights.tensors[0]!.name = 'stem/\u00d4r';
    const back = roundTrip(weights) as typeof weights;
    assert.deepEqual([...back.tensors[0]!.bytes.subarray(0, 4)], [0xd4, 0x72, 0xd4, 0x72]);
    assert.equal(back.tensors[0]!.name, 'stem/\u00d4r');
  });

  it('refuses trailing bytes after the message', () => {
    const padded = new Uint8Array(hello.byteLength + 1);
    padded.set(hello);
    rejects(
      () => decodeMessage(padded),
      'PROTO_MALFORMED',
      new RegExp(`^Frame of ${hello.byteLength + 1} bytes is not one complete MessagePack value: Data read, but end of buffer not reached`),
    );
  });

  it('refuses an empty frame', () => {
    rejects(
      () => decodeMessage(new Uint8Array(0)),
      'PROTO_MALFORMED',
      'Frame of 0 bytes is not one complete MessagePack value: Unexpected end of MessagePack data',
    );
  });

  it('has a close code of 1002', () => {
    try {
      decodeMessage(new Uint8Array(0));
      assert.fail('should throw');
    } catch (err) {
      assert.ok(err instanceof ProtocolError);
      assert.equal(err.closeCode, 1002);
      assert.ok(err.cause instanceof Error, 'the msgpackr error is kept as the cause');
    }
  });
});

describe('decodeMessage stage 3: type and schema', () => {
  it('refuses a top-level value that is not a map', () => {
    rejects(
      () => decodeMessage(raw.pack([1, 2])),
      'PROTO_SCHEMA',
      'Message must be a MessagePack map with a string `type`, but got an array',
    );
    rejects(() => decodeMessage(raw.pack(7)), 'PROTO_SCHEMA', 'Message must be a MessagePack map with a string `type`, but got a number');
    // A Date travels as the timestamp extension, refused at stage 2 (see above).
    rejects(
      () => decodeMessage(raw.pack(new Date(0))),
      'PROTO_MALFORMED',
      /uses a MessagePack extension \(header 0xd6, type 0xff \(-1\)\) at byte 0/,
    );
  });

  it('refuses a map without a string type', () => {
    rejects(
      () => decodeMessage(raw.pack({ kind: 'hello' })),
      'PROTO_SCHEMA',
      'Message must be a MessagePack map with a string `type`, but got a map without a string `type`',
    );
  });

  it('refuses an unknown type', () => {
    rejects(
      () => decodeMessage(raw.pack({ type: 'gossip', text: 'hi' })),
      'PROTO_UNKNOWN_TYPE',
      "Unknown message type 'gossip' (protocol version 3)",
    );
  });

  it('refuses a chunk type sent as MessagePack', () => {
    rejects(
      () => decodeMessage(raw.pack({ ...sampleMessages().gradChunk })),
      'PROTO_SCHEMA',
      "Message 'gradChunk' must travel as a binary chunk frame, but came as MessagePack",
    );
  });

  it('refuses a missing field', () => {
    const { workerId: _omit, ...hello } = sampleMessages().hello;
    rejects(
      () => decodeMessage(raw.pack(hello)),
      'PROTO_SCHEMA',
      "Message 'hello' does not match its schema: workerId: Invalid input: expected string, received undefined",
    );
  });

  it('refuses an unknown extra field', () => {
    rejects(
      () => decodeMessage(raw.pack({ ...sampleMessages().ready, mood: 'great' })),
      'PROTO_SCHEMA',
      'Message \'ready\' does not match its schema: (message): Unrecognized key: "mood"',
    );
  });

  it('refuses mistyped nested fields, naming their paths', () => {
    const welcome = sampleWelcome();
    const bad = { ...welcome, hyper: { ...welcome.hyper, lrPeak: 0 }, buckets: [{ bucket: 0, offset: 0, length: 1.5 }] };
    rejects(
      () => decodeMessage(raw.pack(bad)),
      'PROTO_SCHEMA',
      "Message 'welcome' does not match its schema: hyper.lrPeak: Too small: expected number to be >0; buckets[0].length: Invalid input: expected int, received number",
    );
  });

  it('refuses a tensor whose bytes are not binary', () => {
    const weights = sampleInitialWeights();
    const bad = { ...weights, tensors: [{ ...weights.tensors[0]!, bytes: [1, 2, 3] }] };
    rejects(
      () => decodeMessage(raw.pack(bad)),
      'PROTO_SCHEMA',
      "Message 'initialWeights' does not match its schema: tensors[0].bytes: Invalid input: expected binary",
    );
  });

  it('refuses 64-bit integers instead of rounding them', () => {
    const frame = Buffer.from(raw.pack({ type: 'heartbeat', sentAtMs: 1.5 }));
    // Replace the float64 (0xcb + 8 bytes) with a uint64 (0xcf + 8 bytes) of 2^60.
    const at = frame.indexOf(0xcb);
    frame[at] = 0xcf;
    frame.writeBigUInt64BE(2n ** 60n, at + 1);
    rejects(
      () => decodeMessage(frame),
      'PROTO_SCHEMA',
      "Message 'heartbeat' does not match its schema: sentAtMs: Invalid input: expected number, received bigint",
    );
  });
});

describe('decodeMessage stage 4: semantics', () => {
  it('refuses a tensor whose bytes disagree with its count', () => {
    const weights = sampleInitialWeights();
    const bad = { ...weights, tensors: [{ ...weights.tensors[0]!, bytes: new Uint8Array(23) }] };
    rejects(
      () => decodeMessage(raw.pack(bad)),
      'PROTO_BAD_TENSOR',
      "initialWeights.tensors[0] ('stem/conv/kernel'): bytes must hold count × bytesPerElement = 6 × 4 = 24 bytes of float32, but holds 23",
    );
  });

  it('refuses a rank outside the group', () => {
    rejects(
      () => decodeMessage(raw.pack({ ...sampleWelcome(), rank: 2 })),
      'PROTO_SEMANTIC',
      'welcome.rank must be less than welcome.worldSize (2), but got 2',
    );
  });
});

describe('decodeMessage stage 5: expected types', () => {
  it('refuses a valid message the state does not allow', () => {
    const chunk = encodeMessage(sampleMessages().gradChunk);
    rejects(() => decodeMessage(chunk, { expect: ['hello'] }), 'PROTO_UNEXPECTED', "Unexpected message 'gradChunk' (expected 'hello')");
    rejects(
      () => decodeMessage(encodeMessage(sampleMessages().metrics), { expect: ['welcome', 'reject'] }),
      'PROTO_UNEXPECTED',
      "Unexpected message 'metrics' (expected 'welcome' or 'reject')",
    );
  });

  it('passes an allowed message through', () => {
    const hello = sampleMessages().hello;
    assert.deepStrictEqual(decodeMessage(new Uint8Array(encodeMessage(hello)), { expect: ['hello'] }), hello);
  });
});

describe('encodeMessage', () => {
  it('refuses a message that breaks its schema (a bug on the sending side)', () => {
    rejects(
      () => encodeMessage({ ...sampleMessages().roundStart, lr: -1 }),
      'PROTO_ENCODE',
      "encodeMessage: message 'roundStart' does not match its schema: lr: Too small: expected number to be >=0",
    );
  });

  it('refuses a message that breaks an invariant', () => {
    rejects(
      () => encodeMessage({ ...sampleMessages().metrics, correct: 200 }),
      'PROTO_ENCODE',
      'encodeMessage: metrics.correct must be at most count (128), but got 200',
    );
  });

  it('has a close code of 1011', () => {
    try {
      encodeMessage({ type: 'ready', generation: -1 });
      assert.fail('should throw');
    } catch (err) {
      assert.ok(err instanceof ProtocolError);
      assert.equal(err.closeCode, 1011);
    }
  });
});
