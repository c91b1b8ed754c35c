// Tests of moving floats between Float32Array and wire bytes: every dtype, aligned and
// misaligned destinations (the DataView path), accumulation, and the length checks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WireDtype } from './dtype.js';
import { readFloats, viewFloat32, writeFloats } from './float_bytes.js';
import { bfloat16BitsToFloat32, float16BitsToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits } from './half_float.js';
import { ProtocolError } from './protocol_error.js';

const VALUES = new Float32Array([0, 1, -2.5, 3.14159, 65504, 1e-7, -0.1, 1234.5678]);

function expected(dtype: WireDtype, value: number): number {
  if (dtype === 'float16') return float16BitsToFloat32(float32ToFloat16Bits(value));
  if (dtype === 'bfloat16') return bfloat16BitsToFloat32(float32ToBfloat16Bits(value));
  return Math.fround(value);
}

describe('writeFloats / readFloats', () => {
  for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
    for (const shift of [0, 1, 2, 3]) {
      it(`round-trips ${dtype} at byte offset ${shift} of the destination`, () => {
        const size = VALUES.length * (dtype === 'float32' ? 4 : 2);
        const backing = new Uint8Array(size + 8);
        const dst = backing.subarray(shift, shift + size);
        assert.equal(writeFloats(VALUES, dtype, dst, 0), size);
        const out = new Float32Array(VALUES.length);
        readFloats(dst, dtype, out);
        assert.deepEqual(
          Array.from(out),
          Array.from(VALUES, (v) => expected(dtype, v)),
        );
        readFloats(dst, dtype, out, true);
        assert.deepEqual(
          Array.from(out),
          Array.from(VALUES, (v) => Math.fround(2 * expected(dtype, v))),
        );
      });
    }
  }

  it('writes little-endian bytes', () => {
    const dst = new Uint8Array(6);
    writeFloats(new Float32Array([1]), 'float32', dst, 0);
    writeFloats(new Float32Array([1]), 'float16', dst, 4);
    assert.deepEqual(Array.from(dst), [0x00, 0x00, 0x80, 0x3f, 0x00, 0x3c]);
  });

  it('refuses a destination too small, naming both sizes', () => {
    assert.throws(
      () => writeFloats(VALUES, 'float32', new Uint8Array(40), 10),
      (err: unknown) =>
        err instanceof ProtocolError &&
        err.code === 'PROTO_ENCODE' &&
        err.message === 'writeFloats needs 32 bytes at offset 10 of `dst`, but `dst` holds 40 bytes',
    );
  });

  it('refuses source bytes that do not hold out.length elements', () => {
    assert.throws(
      () => readFloats(new Uint8Array(7), 'float16', new Float32Array(4)),
      (err: unknown) =>
        err instanceof ProtocolError &&
        err.code === 'PROTO_BAD_TENSOR' &&
        err.message === 'readFloats expected 8 bytes for 4 float16 elements, but got 7',
    );
  });
});

describe('viewFloat32', () => {
  it('views aligned bytes in place and refuses misaligned ones', () => {
    const backing = new Uint8Array(20);
    const aligned = viewFloat32(backing.subarray(4, 12));
    assert.ok(aligned !== null);
    assert.equal(aligned.buffer, backing.buffer);
    assert.equal(aligned.length, 2);
    assert.equal(viewFloat32(backing.subarray(1, 9)), null);
    assert.equal(viewFloat32(backing.subarray(4, 10)), null);
  });
});
