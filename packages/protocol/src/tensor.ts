// A whole tensor on the wire (weights, BatchNorm statistics, momentum): name, shape, dtype,
// element count and raw little-endian bytes, after safetensors' header-plus-bytes layout.
import { z } from 'zod';
import { BYTES_PER_ELEMENT, BytesSchema, LITTLE_ENDIAN_HOST, TensorDtypeSchema, type WireDtype } from './dtype.js';
import { readFloats, viewFloat32, writeFloats } from './float_bytes.js';
import { ProtocolError } from './protocol_error.js';

/**
 * A tensor as it travels. `bytes` holds `count` little-endian elements of `dtype`; `count` is
 * the product of `shape` (1 for a scalar, `shape: []`). After decoding, `bytes` is a view into
 * the received frame, not a copy: keep the frame alive as long as the tensor.
 */
export const WireTensorSchema = z.strictObject({
  /** Model variable name, unique within one message (e.g. `inception3a/b1/conv/kernel`). */
  name: z.string().min(1).max(256),
  /** Dimensions, e.g. `[3, 3, 64, 192]` for a conv kernel (tfjs order: h, w, in, out). */
  shape: z.array(z.int().nonnegative()).max(8),
  dtype: TensorDtypeSchema,
  /** Number of elements: the product of `shape`. */
  count: z.int().nonnegative(),
  bytes: BytesSchema,
});
/** A tensor on the wire. */
export type WireTensor = z.infer<typeof WireTensorSchema>;

/**
 * Throws `PROTO_BAD_TENSOR` unless `tensor.count` is the product of its shape and its bytes hold
 * exactly `count` elements of its dtype. `where` names the tensor in the message, e.g.
 * `initialWeights.tensors[3]`.
 */
export function checkTensor(tensor: WireTensor, where: string): void {
  const product = tensor.shape.reduce((a, b) => a * b, 1);
  if (product !== tensor.count) {
    throw new ProtocolError(
      'PROTO_BAD_TENSOR',
      `${where} ('${tensor.name}'): count must be the product of shape [${tensor.shape.join(', ')}] (${product}), but got ${tensor.count}`,
    );
  }
  const expected = tensor.count * BYTES_PER_ELEMENT[tensor.dtype];
  if (tensor.bytes.byteLength !== expected) {
    throw new ProtocolError(
      'PROTO_BAD_TENSOR',
      `${where} ('${tensor.name}'): bytes must hold count × bytesPerElement = ${tensor.count} × ${BYTES_PER_ELEMENT[tensor.dtype]} = ${expected} bytes of ${tensor.dtype}, but holds ${tensor.bytes.byteLength}`,
    );
  }
}

/**
 * Wraps float32 data as a wire tensor. With `dtype: 'float32'` (the default) `bytes` is a view
 * of `data`, not a copy, so do not change `data` until the message is encoded; a 16-bit dtype
 * converts into a fresh buffer.
 */
export function tensorFromFloat32(name: string, shape: readonly number[], data: Float32Array, dtype: WireDtype = 'float32'): WireTensor {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new ProtocolError(
      'PROTO_ENCODE',
      `tensorFromFloat32('${name}'): shape [${shape.join(', ')}] holds ${count} elements, but \`data\` has ${data.length}`,
    );
  }
  let bytes: Uint8Array;
  if (dtype === 'float32' && LITTLE_ENDIAN_HOST) {
    bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } else {
    bytes = new Uint8Array(count * BYTES_PER_ELEMENT[dtype]);
    writeFloats(data, dtype, bytes, 0);
  }
  return { name, shape: [...shape], dtype, count, bytes };
}

/**
 * The tensor's values as float32. A float32 tensor whose bytes sit 4-byte aligned comes back as
 * a view of the received frame (zero-copy); otherwise (misaligned, 16-bit dtype, big-endian
 * host) the values are copied into a new array. int32 tensors are refused (`PROTO_BAD_TENSOR`).
 */
export function tensorToFloat32(tensor: WireTensor): Float32Array {
  if (tensor.dtype === 'int32') {
    throw new ProtocolError('PROTO_BAD_TENSOR', `tensorToFloat32('${tensor.name}') needs a float dtype, but got int32`);
  }
  checkTensor(tensor, 'tensorToFloat32');
  if (tensor.dtype === 'float32') {
    const view = viewFloat32(tensor.bytes);
    if (view !== null) return view;
  }
  const out = new Float32Array(tensor.count);
  readFloats(tensor.bytes, tensor.dtype, out);
  return out;
}
