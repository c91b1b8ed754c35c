// Tests of the binary chunk frame: exact header layout, encoding into a reused buffer, zero-copy
// decoding, every bad header, and a property test over random headers, payloads and alignments.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { addChunkInto, chunkFloats, readChunkInto } from './chunk_floats.js';
import {
  CHUNK_HEADER_BYTES,
  chunkFrameBytes,
  decodeChunk,
  encodeChunk,
  encodeChunkInto,
  isChunkFrame,
  writeChunkHeader,
  type ChunkHeaderInit,
} from './chunk_frame.js';
import type { WireDtype } from './dtype.js';
import { bfloat16BitsToFloat32, float16BitsToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits } from './half_float.js';
import { ProtocolError, type ProtocolErrorCode } from './protocol_error.js';

const HEADER: ChunkHeaderInit = { type: 'gradChunk', round: 7, bucket: 2, chunk: 5, offset: 1024, dtype: 'float32', rank: 3 };

function rejects(fn: () => unknown, code: ProtocolErrorCode, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ProtocolError, `expected a ProtocolError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.message, message);
    return true;
  });
}

function frameOf(header: ChunkHeaderInit, values: readonly number[]): Uint8Array {
  const floats = new Float32Array(values);
  const buf = new Uint8Array(chunkFrameBytes(floats.length, header.dtype));
  encodeChunkInto(buf, header, floats);
  return buf;
}

function roundTo(dtype: WireDtype, value: number): number {
  if (dtype === 'float16') return float16BitsToFloat32(float32ToFloat16Bits(value));
  if (dtype === 'bfloat16') return bfloat16BitsToFloat32(float32ToBfloat16Bits(value));
  return Math.fround(value);
}

describe('encodeChunkInto', () => {
  it('writes the documented little-endian header, then the payload', () => {
    const frame = frameOf({ ...HEADER, type: 'reducedChunk', dtype: 'float16' }, [1, -2]);
    assert.equal(
      Buffer.from(frame).toString('hex'),
      [
        '474e434b', // magic "GNCK"
        '03', // version (PROTOCOL_VERSION)
        '02', // kind: reducedChunk
        '02', // dtype: float16
        '00', // reserved
        '07000000', // round 7
        '02000000', // bucket 2
        '05000000', // chunk 5
        '00040000', // offset 1024
        '02000000', // count 2
        '03000000', // rank 3
        '003c', // 1.0 in fp16
        '00c0', // -2.0 in fp16
      ].join(''),
    );
  });

  it('reuses one buffer for frames of any size and returns each length', () => {
    const buf = new Uint8Array(chunkFrameBytes(1000, 'float32'));
    const first = encodeChunkInto(buf, HEADER, new Float32Array(1000).fill(1));
    assert.equal(first, 4032);
    const second = encodeChunkInto(buf, { ...HEADER, chunk: 6 }, new Float32Array([9, 8]));
    assert.equal(second, 40);
    const chunk = decodeChunk(buf.subarray(0, second));
    assert.equal(chunk.chunk, 6);
    assert.deepEqual(Array.from(chunkFloats(chunk)), [9, 8]);
  });

  it('refuses a buffer too small for the frame', () => {
    rejects(
      () => encodeChunkInto(new Uint8Array(40), { ...HEADER, dtype: 'bfloat16' }, new Float32Array(5)),
      'PROTO_ENCODE',
      'encodeChunkInto needs `buf` of at least 42 bytes for 5 bfloat16 elements, but got 40',
    );
  });

  it('refuses header fields that do not fit a uint32', () => {
    rejects(
      () => encodeChunkInto(new Uint8Array(64), { ...HEADER, round: -1 }, new Float32Array(1)),
      'PROTO_ENCODE',
      'Chunk header `round` must be a uint32, but got -1',
    );
    rejects(
      () => encodeChunkInto(new Uint8Array(64), { ...HEADER, offset: 2 ** 32 }, new Float32Array(1)),
      'PROTO_ENCODE',
      'Chunk header `offset` must be a uint32, but got 4294967296',
    );
  });

  it('refuses an unknown dtype or kind', () => {
    rejects(
      () => writeChunkHeader(new Uint8Array(32), { ...HEADER, count: 0, dtype: 'float64' as WireDtype }),
      'PROTO_ENCODE',
      "Chunk header `dtype` must be float32, float16 or bfloat16, but got 'float64'",
    );
    rejects(
      () => writeChunkHeader(new Uint8Array(32), { ...HEADER, count: 0, type: 'metrics' as 'gradChunk' }),
      'PROTO_ENCODE',
      "Chunk header `type` must be 'gradChunk' or 'reducedChunk', but got 'metrics'",
    );
  });

  it('writes a header alone for sending the payload as a second buffer', () => {
    const head = new Uint8Array(CHUNK_HEADER_BYTES);
    const payload = new Float32Array([0.5, 0.25, 0.125]);
    assert.equal(writeChunkHeader(head, { ...HEADER, count: payload.length }), 32);
    const joined = Buffer.concat([head, new Uint8Array(payload.buffer)]);
    assert.deepEqual(Array.from(chunkFloats(decodeChunk(joined))), [0.5, 0.25, 0.125]);
  });
});

describe('decodeChunk', () => {
  it('returns the header and a zero-copy view of the payload', () => {
    const frame = frameOf(HEADER, [1.5, -3]);
    const chunk = decodeChunk(frame);
    assert.deepEqual({ ...chunk, bytes: undefined }, { ...HEADER, count: 2, bytes: undefined });
    assert.equal(chunk.bytes.buffer, frame.buffer);
    assert.equal(chunk.bytes.byteOffset, 32);
    const floats = chunkFloats(chunk);
    assert.equal(floats.buffer, frame.buffer, 'an aligned float32 payload is viewed in place');
    assert.deepEqual(Array.from(floats), [1.5, -3]);
  });

  it('copies a payload that sits misaligned in its buffer', () => {
    const frame = frameOf(HEADER, [1.5, -3]);
    const shifted = new Uint8Array(frame.byteLength + 1).subarray(1);
    shifted.set(frame);
    const floats = chunkFloats(decodeChunk(shifted));
    assert.notEqual(floats.buffer, shifted.buffer);
    assert.deepEqual(Array.from(floats), [1.5, -3]);
  });

  it('accepts an empty chunk', () => {
    const chunk = decodeChunk(frameOf(HEADER, []));
    assert.equal(chunk.count, 0);
    assert.equal(chunk.bytes.byteLength, 0);
  });

  it('refuses a frame larger than maxFrameBytes before reading it', () => {
    rejects(
      () => decodeChunk(frameOf(HEADER, [1, 2, 3]), { maxFrameBytes: 40 }),
      'PROTO_FRAME_TOO_LARGE',
      'Frame of 44 bytes exceeds maxFrameBytes (40)',
    );
  });

  it('refuses a frame shorter than the header', () => {
    rejects(
      () => decodeChunk(frameOf(HEADER, [1]).subarray(0, 20)),
      'PROTO_BAD_CHUNK',
      'Chunk frame must be at least 32 bytes (the header), but got 20',
    );
  });

  const corrupt = (byte: number, value: number): Uint8Array => {
    const frame = frameOf(HEADER, [1]);
    frame[byte] = value;
    return frame;
  };

  it('refuses a wrong magic', () => {
    rejects(
      () => decodeChunk(corrupt(3, 0x4a)),
      'PROTO_BAD_CHUNK',
      'Chunk frame must start with magic 47 4e 43 4b ("GNCK"), but got 47 4e 43 4a',
    );
  });

  it('refuses a wrong version byte', () => {
    rejects(() => decodeChunk(corrupt(4, 2)), 'PROTO_BAD_CHUNK', 'Chunk frame version byte must be 3, but got 2');
  });

  it('refuses an unknown kind', () => {
    rejects(
      () => decodeChunk(corrupt(5, 9)),
      'PROTO_BAD_CHUNK',
      'Chunk frame kind byte must be 1 (gradChunk) or 2 (reducedChunk), but got 9',
    );
  });

  it('refuses an unknown dtype', () => {
    rejects(
      () => decodeChunk(corrupt(6, 0)),
      'PROTO_BAD_CHUNK',
      'Chunk frame dtype byte must be 1 (float32), 2 (float16) or 3 (bfloat16), but got 0',
    );
  });

  it('refuses a nonzero reserved byte', () => {
    rejects(() => decodeChunk(corrupt(7, 1)), 'PROTO_BAD_CHUNK', 'Chunk frame reserved byte 7 must be 0, but got 1');
  });

  it('refuses a payload that disagrees with count (truncated or padded)', () => {
    const frame = frameOf(HEADER, [1, 2, 3]);
    rejects(
      () => decodeChunk(frame.subarray(0, frame.byteLength - 1)),
      'PROTO_BAD_TENSOR',
      'gradChunk payload must hold count × bytesPerElement = 3 × 4 = 12 bytes of float32, but holds 11',
    );
    const padded = new Uint8Array(frame.byteLength + 2);
    padded.set(frame);
    padded[6] = 3; // bfloat16: 3 elements need 6 bytes
    rejects(
      () => decodeChunk(padded),
      'PROTO_BAD_TENSOR',
      'gradChunk payload must hold count × bytesPerElement = 3 × 2 = 6 bytes of bfloat16, but holds 14',
    );
  });
});

describe('encodeChunk', () => {
  it('refuses bytes that disagree with count', () => {
    rejects(
      () => encodeChunk({ ...HEADER, count: 3, bytes: new Uint8Array(8) }),
      'PROTO_ENCODE',
      'gradChunk.bytes must hold count × bytesPerElement = 12 bytes, but holds 8',
    );
  });
});

describe('readChunkInto / addChunkInto', () => {
  it('copies and accumulates into the caller array', () => {
    const chunk = decodeChunk(frameOf({ ...HEADER, dtype: 'bfloat16' }, [1, 2, 3]));
    const sums = new Float32Array([10, 20, 30, 40, 50]);
    addChunkInto(chunk, sums.subarray(1, 4));
    assert.deepEqual(Array.from(sums), [10, 21, 32, 43, 50]);
    readChunkInto(chunk, sums.subarray(0, 3));
    assert.deepEqual(Array.from(sums), [1, 2, 3, 43, 50]);
  });

  it('refuses an output whose length is not the chunk count', () => {
    const chunk = decodeChunk(frameOf(HEADER, [1, 2, 3]));
    rejects(
      () => addChunkInto(chunk, new Float32Array(4)),
      'PROTO_BAD_TENSOR',
      "addChunkInto: `out` must have the chunk's count (3) elements, but has 4",
    );
  });
});

describe('chunk frame properties', () => {
  const headerArb = fc.record({
    type: fc.constantFrom('gradChunk' as const, 'reducedChunk' as const),
    round: fc.nat({ max: 0xffffffff }),
    bucket: fc.nat({ max: 0xffffffff }),
    chunk: fc.nat({ max: 0xffffffff }),
    offset: fc.nat({ max: 0xffffffff }),
    dtype: fc.constantFrom('float32' as const, 'float16' as const, 'bfloat16' as const),
    rank: fc.nat({ max: 0xffffffff }),
  });

  it('decode(encodeChunkInto(header, floats)) gives back the header and the floats rounded to the dtype, at any alignment', () => {
    fc.assert(
      fc.property(headerArb, fc.float32Array({ maxLength: 64 }), fc.nat({ max: 7 }), (header, floats, shift) => {
        // A reused buffer with stale bytes, at an arbitrary byte offset of its ArrayBuffer.
        const backing = new Uint8Array(chunkFrameBytes(64, 'float32') + 8).fill(0xab);
        const buf = backing.subarray(shift);
        const length = encodeChunkInto(buf, header, floats);
        assert.equal(length, chunkFrameBytes(floats.length, header.dtype));
        const frame = buf.subarray(0, length);
        assert.ok(isChunkFrame(frame));
        const chunk = decodeChunk(frame);
        const { bytes, ...decodedHeader } = chunk;
        assert.deepEqual(decodedHeader, { ...header, count: floats.length });
        assert.equal(bytes.buffer, backing.buffer, 'the payload is a view, not a copy');
        const out = new Float32Array(floats.length);
        readChunkInto(chunk, out);
        floats.forEach((value, i) => {
          const want = roundTo(header.dtype, value);
          assert.ok(Object.is(out[i], want) || (Number.isNaN(out[i]) && Number.isNaN(want)), `element ${i}: ${out[i]} !== ${want}`);
        });
      }),
      { numRuns: 300 },
    );
  });

  it('a frame with any header byte changed either decodes or fails with a ProtocolError, never anything else', () => {
    fc.assert(
      fc.property(headerArb, fc.nat({ max: 16 }), fc.nat({ max: 31 }), fc.nat({ max: 255 }), (header, count, byte, value) => {
        const frame = new Uint8Array(chunkFrameBytes(count, header.dtype));
        encodeChunkInto(frame, header, new Float32Array(count).fill(0.5));
        frame[byte] = value;
        try {
          const chunk = decodeChunk(frame);
          assert.equal(chunk.bytes.byteLength, chunk.count * (chunk.dtype === 'float32' ? 4 : 2));
        } catch (err) {
          assert.ok(err instanceof ProtocolError);
          assert.ok(['PROTO_BAD_CHUNK', 'PROTO_BAD_TENSOR'].includes(err.code), err.code);
        }
      }),
      { numRuns: 500 },
    );
  });
});
