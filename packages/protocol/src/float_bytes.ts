// Moves floats between a Float32Array and little-endian wire bytes in fp32, fp16 or bfloat16,
// without allocating buffers: the hot path of every gradient chunk goes through here.
import { BYTES_PER_ELEMENT, LITTLE_ENDIAN_HOST, type WireDtype } from './dtype.js';
import { bfloat16BitsFromFloat32Bits, float16BitsFromFloat32Bits, float16Table32 } from './half_float.js';
import { ProtocolError } from './protocol_error.js';

/**
 * fp16 conversion of whole arrays, done natively (e.g. with the CPU's F16C instructions): the
 * JS loops below take ~2.7 ns per element each way, which makes fp16 all-reduce rounds at 1 Gbit
 * CPU-bound. Results must equal the JS ones (float16BitsFromFloat32Bits, float16Table32), every
 * NaN encoding to sign | 0x7e00, so ranks with and without it still agree bit for bit.
 */
export interface Float16Codec {
  /** Writes `src` as little-endian fp16 into `dst` (exactly 2 bytes per element, any byte offset). */
  encode(src: Float32Array, dst: Uint8Array): void;
  /** Reads `out.length` fp16 from `src` (exactly 2 bytes each) into `out`, or adds them with `accumulate`. */
  decode(src: Uint8Array, out: Float32Array, accumulate: boolean): void;
}

/** Below this many elements the JS loop wins over a native call's fixed cost. */
const CODEC_MIN_ELEMENTS = 256;

let float16Codec: Float16Codec | null = null;

/**
 * Routes fp16 conversions of {@link writeFloats} and {@link readFloats} through `codec` from now
 * on (null: back to the JS loops). One per process, set at start-up: the worker sets
 * `@gnet/native-cpu`'s where that addon loads.
 */
export function setFloat16Codec(codec: Float16Codec | null): void {
  float16Codec = codec;
}

/** The codec in use, or null for the JS loops. */
export function getFloat16Codec(): Float16Codec | null {
  return float16Codec;
}

// Scratch word for bfloat16 accumulation: bits in, float out.
const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/**
 * A Float32Array over `bytes` without copying, or null when that is impossible: a Float32Array
 * must start at a multiple of 4 bytes in its ArrayBuffer (a msgpack header or a ws frame often
 * leaves bytes at an odd offset), and the host must be little-endian like the wire.
 */
export function viewFloat32(bytes: Uint8Array): Float32Array | null {
  if (!LITTLE_ENDIAN_HOST || bytes.byteOffset % 4 !== 0 || bytes.byteLength % 4 !== 0) return null;
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

/**
 * Writes `src` into `dst` at `dstOffset` (bytes) as little-endian `dtype` elements, rounding to
 * nearest even for the 16-bit types. `dst` must hold `src.length * bytesPerElement` bytes there.
 * Returns the number of bytes written.
 */
export function writeFloats(src: Float32Array, dtype: WireDtype, dst: Uint8Array, dstOffset: number): number {
  const byteLength = src.length * BYTES_PER_ELEMENT[dtype];
  if (dstOffset + byteLength > dst.byteLength) {
    throw new ProtocolError(
      'PROTO_ENCODE',
      `writeFloats needs ${byteLength} bytes at offset ${dstOffset} of \`dst\`, but \`dst\` holds ${dst.byteLength} bytes`,
    );
  }
  if (dtype === 'float32') {
    if (LITTLE_ENDIAN_HOST) {
      dst.set(new Uint8Array(src.buffer, src.byteOffset, byteLength), dstOffset);
    } else {
      const view = new DataView(dst.buffer, dst.byteOffset + dstOffset, byteLength);
      for (let i = 0; i < src.length; i += 1) view.setFloat32(i * 4, src[i]!, true);
    }
    return byteLength;
  }
  if (dtype === 'float16' && float16Codec !== null && src.length >= CODEC_MIN_ELEMENTS) {
    float16Codec.encode(src, dst.subarray(dstOffset, dstOffset + byteLength));
    return byteLength;
  }
  // The source's bits, read as uint32 (a Float32Array is always 4-byte aligned).
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const start = dst.byteOffset + dstOffset;
  const halves = LITTLE_ENDIAN_HOST && start % 2 === 0 ? new Uint16Array(dst.buffer, start, src.length) : null;
  // One loop per dtype, so each call site sees one conversion function and V8 inlines it.
  if (halves !== null && dtype === 'float16') {
    for (let i = 0; i < bits.length; i += 1) halves[i] = float16BitsFromFloat32Bits(bits[i]!);
  } else if (halves !== null) {
    for (let i = 0; i < bits.length; i += 1) halves[i] = bfloat16BitsFromFloat32Bits(bits[i]!);
  } else {
    const view = new DataView(dst.buffer, start, byteLength);
    const toHalf = dtype === 'float16' ? float16BitsFromFloat32Bits : bfloat16BitsFromFloat32Bits;
    for (let i = 0; i < bits.length; i += 1) view.setUint16(i * 2, toHalf(bits[i]!), true);
  }
  return byteLength;
}

/**
 * Reads `out.length` little-endian `dtype` elements from `src` into `out`; with `accumulate`
 * adds them to what `out` holds instead (the reduce step of an all-reduce, without a temporary).
 * `src` must hold exactly `out.length * bytesPerElement` bytes.
 */
export function readFloats(src: Uint8Array, dtype: WireDtype, out: Float32Array, accumulate = false): void {
  const count = out.length;
  if (src.byteLength !== count * BYTES_PER_ELEMENT[dtype]) {
    throw new ProtocolError(
      'PROTO_BAD_TENSOR',
      `readFloats expected ${count * BYTES_PER_ELEMENT[dtype]} bytes for ${count} ${dtype} elements, but got ${src.byteLength}`,
    );
  }
  if (dtype === 'float32') {
    const view = viewFloat32(src);
    if (view !== null) {
      if (accumulate) for (let i = 0; i < count; i += 1) out[i]! += view[i]!;
      else out.set(view);
      return;
    }
    const data = new DataView(src.buffer, src.byteOffset, src.byteLength);
    if (accumulate) for (let i = 0; i < count; i += 1) out[i]! += data.getFloat32(i * 4, true);
    else for (let i = 0; i < count; i += 1) out[i] = data.getFloat32(i * 4, true);
    return;
  }
  if (dtype === 'float16' && float16Codec !== null && count >= CODEC_MIN_ELEMENTS) {
    float16Codec.decode(src, out, accumulate);
    return;
  }
  const aligned = LITTLE_ENDIAN_HOST && src.byteOffset % 2 === 0;
  const halves = aligned ? new Uint16Array(src.buffer, src.byteOffset, count) : null;
  const data = aligned ? null : new DataView(src.buffer, src.byteOffset, src.byteLength);
  const at = (i: number): number => (halves !== null ? halves[i]! : data!.getUint16(i * 2, true));
  if (dtype === 'float16') {
    const table = float16Table32();
    if (accumulate) for (let i = 0; i < count; i += 1) out[i]! += table[at(i)]!;
    else for (let i = 0; i < count; i += 1) out[i] = table[at(i)]!;
    return;
  }
  // bfloat16 is the top half of a float32: shift the bits into place through a uint32 view.
  const outBits = new Uint32Array(out.buffer, out.byteOffset, count);
  if (!accumulate) {
    for (let i = 0; i < count; i += 1) outBits[i] = at(i) << 16;
    return;
  }
  for (let i = 0; i < count; i += 1) {
    scratchBits[0] = at(i) << 16;
    out[i]! += scratch[0]!;
  }
}
