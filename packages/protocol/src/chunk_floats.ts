// Reading a decoded chunk's payload as float32: a zero-copy view where possible, otherwise a
// copy or conversion into the caller's array (reduction always happens in float32).
import { readFloats, viewFloat32 } from './float_bytes.js';
import { ProtocolError } from './protocol_error.js';
import type { ChunkMessage } from './round_messages.js';

/**
 * The chunk's values as float32. A float32 payload whose bytes start 4-byte aligned in their
 * ArrayBuffer is returned as a view (zero-copy; valid while the frame is); otherwise the values
 * are copied or converted into a new array. Prefer {@link readChunkInto} / {@link addChunkInto}
 * on the hot path: they never allocate.
 */
export function chunkFloats(chunk: ChunkMessage): Float32Array {
  if (chunk.dtype === 'float32') {
    const view = viewFloat32(chunk.bytes);
    if (view !== null && view.length === chunk.count) return view;
  }
  const out = new Float32Array(chunk.count);
  readFloats(chunk.bytes, chunk.dtype, out);
  return out;
}

function checkOut(chunk: ChunkMessage, out: Float32Array, operation: string): void {
  if (out.length !== chunk.count) {
    throw new ProtocolError(
      'PROTO_BAD_TENSOR',
      `${operation}: \`out\` must have the chunk's count (${chunk.count}) elements, but has ${out.length}`,
    );
  }
}

/** Copies (converting from the wire dtype) the chunk's values into `out`, which must have `count` elements. */
export function readChunkInto(chunk: ChunkMessage, out: Float32Array): void {
  checkOut(chunk, out, 'readChunkInto');
  readFloats(chunk.bytes, chunk.dtype, out);
}

/**
 * Adds the chunk's values to `out` element-wise (`out[i] += value[i]`), which must have `count`
 * elements: the reduce step of reduce-scatter, with no temporary array.
 *
 * @example
 * addChunkInto(chunk, bucketSums.subarray(chunk.offset, chunk.offset + chunk.count));
 */
export function addChunkInto(chunk: ChunkMessage, out: Float32Array): void {
  checkOut(chunk, out, 'addChunkInto');
  readFloats(chunk.bytes, chunk.dtype, out, true);
}
