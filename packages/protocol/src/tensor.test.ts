// Tests of wire tensors: zero-copy wrap and unwrap where alignment allows, copies where it does
// not, and the count / byte-length checks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from './protocol_error.js';
import { checkTensor, tensorFromFloat32, tensorToFloat32, type WireTensor } from './tensor.js';

describe('tensorFromFloat32', () => {
  it('wraps float32 data without copying', () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const tensor = tensorFromFloat32('w', [2, 3], data);
    assert.equal(tensor.bytes.buffer, data.buffer);
    assert.equal(tensor.count, 6);
    assert.deepEqual(tensor.shape, [2, 3]);
    assert.deepEqual(Array.from(tensorToFloat32(tensor)), [1, 2, 3, 4, 5, 6]);
  });

  it('converts to 16-bit dtypes and back', () => {
    const tensor = tensorFromFloat32('w', [3], new Float32Array([1, -0.5, 0.1]), 'float16');
    assert.equal(tensor.bytes.byteLength, 6);
    assert.deepEqual(Array.from(tensorToFloat32(tensor)), [1, -0.5, 0.0999755859375]);
  });

  it('refuses data whose length disagrees with the shape', () => {
    assert.throws(
      () => tensorFromFloat32('fc/kernel', [2, 3], new Float32Array(5)),
      (err: unknown) =>
        err instanceof ProtocolError &&
        err.code === 'PROTO_ENCODE' &&
        err.message === "tensorFromFloat32('fc/kernel'): shape [2, 3] holds 6 elements, but `data` has 5",
    );
  });
});

describe('tensorToFloat32', () => {
  it('views aligned float32 bytes in place (zero-copy)', () => {
    const backing = new Uint8Array(16);
    new DataView(backing.buffer).setFloat32(4, 7.5, true);
    const view = tensorToFloat32({ name: 'b', shape: [2], dtype: 'float32', count: 2, bytes: backing.subarray(4, 12) });
    assert.equal(view.buffer, backing.buffer);
    assert.equal(view.byteOffset, 4);
    assert.equal(view[0], 7.5);
  });

  it('copies misaligned float32 bytes', () => {
    const backing = new Uint8Array(16);
    new DataView(backing.buffer).setFloat32(3, -7.5, true);
    const out = tensorToFloat32({ name: 'b', shape: [2], dtype: 'float32', count: 2, bytes: backing.subarray(3, 11) });
    assert.notEqual(out.buffer, backing.buffer);
    assert.deepEqual(Array.from(out), [-7.5, 0]);
  });

  it('refuses int32 tensors', () => {
    assert.throws(
      () => tensorToFloat32({ name: 'steps', shape: [], dtype: 'int32', count: 1, bytes: new Uint8Array(4) }),
      (err: unknown) =>
        err instanceof ProtocolError &&
        err.code === 'PROTO_BAD_TENSOR' &&
        err.message === "tensorToFloat32('steps') needs a float dtype, but got int32",
    );
  });
});

describe('checkTensor', () => {
  const good: WireTensor = { name: 'k', shape: [2, 2], dtype: 'bfloat16', count: 4, bytes: new Uint8Array(8) };

  it('accepts consistent tensors, including scalars', () => {
    checkTensor(good, 't');
    checkTensor({ name: 's', shape: [], dtype: 'float32', count: 1, bytes: new Uint8Array(4) }, 't');
  });

  it('refuses a count that is not the product of the shape', () => {
    assert.throws(
      () => checkTensor({ ...good, count: 5, bytes: new Uint8Array(10) }, 'initialWeights.tensors[0]'),
      (err: unknown) =>
        err instanceof ProtocolError &&
        err.code === 'PROTO_BAD_TENSOR' &&
        err.message === "initialWeights.tensors[0] ('k'): count must be the product of shape [2, 2] (4), but got 5",
    );
  });

  it('refuses bytes that do not hold count × bytesPerElement', () => {
    assert.throws(
      () => checkTensor({ ...good, bytes: new Uint8Array(16) }, 'x'),
      (err: unknown) =>
        err instanceof ProtocolError &&
        err.code === 'PROTO_BAD_TENSOR' &&
        err.message === "x ('k'): bytes must hold count × bytesPerElement = 4 × 2 = 8 bytes of bfloat16, but holds 16",
    );
  });
});
