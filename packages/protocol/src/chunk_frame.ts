// The binary frame of `gradChunk` / `reducedChunk`: a fixed 32-byte little-endian header
// followed by the raw elements, framed outside MessagePack so the hot path neither allocates nor
// parses (after NCCL's and Gloo's fixed-size slot headers). Layout:
//
//   byte  size  field
//      0     4  magic "GNCK" (0x47 0x4e 0x43 0x4b)
//      4     1  protocol version (PROTOCOL_VERSION)
//      5     1  kind: 1 gradChunk, 2 reducedChunk
//      6     1  dtype: 1 float32, 2 float16, 3 bfloat16
//      7     1  reserved, 0
//      8     4  round   (uint32)
//     12     4  bucket  (uint32)
//     16     4  chunk   (uint32)
//     20     4  offset  (uint32, elements within the bucket)
//     24     4  count   (uint32, elements in the payload)
//     28     4  rank    (uint32, sender)
//     32     …  payload: count × bytesPerElement(dtype) bytes, little-endian
//
// A MessagePack message is always a map (first byte 0x80-0x8f, 0xde or 0xdf), so the magic's
// first byte 0x47 can never start one: a receiver tells the two frame kinds apart by the magic.
// The header is 32 bytes, so the payload keeps the frame's 4-byte alignment and a float32
// payload can be viewed in place whenever the frame itself starts 4-byte aligned.
import { BYTES_PER_ELEMENT, type WireDtype } from './dtype.js';
import { writeFloats } from './float_bytes.js';
import { checkFrameSize, type DecodeOptions } from './frame_size.js';
import { ProtocolError } from './protocol_error.js';
import type { ChunkMessage } from './round_messages.js';
import { PROTOCOL_VERSION } from './version.js';

/** Bytes of the chunk frame header; the payload starts here. */
export const CHUNK_HEADER_BYTES = 32;

/** The four bytes every chunk frame starts with: ASCII "GNCK". */
export const CHUNK_MAGIC: readonly number[] = Object.freeze([0x47, 0x4e, 0x43, 0x4b]);

/** Every header field of a chunk: the message without its payload. */
export type ChunkHeader = Omit<ChunkMessage, 'bytes'>;

/** The header fields the sender chooses; `count` follows from the floats it sends. */
export type ChunkHeaderInit = Omit<ChunkHeader, 'count'>;

const KIND_CODES = { gradChunk: 1, reducedChunk: 2 } as const;
const KIND_BY_CODE: ReadonlyArray<ChunkMessage['type'] | undefined> = [undefined, 'gradChunk', 'reducedChunk'];
const DTYPE_CODES: Readonly<Record<WireDtype, number>> = { float32: 1, float16: 2, bfloat16: 3 };
const DTYPE_BY_CODE: ReadonlyArray<WireDtype | undefined> = [undefined, 'float32', 'float16', 'bfloat16'];
const UINT32_FIELDS = ['round', 'bucket', 'chunk', 'offset', 'count', 'rank'] as const;

/** Total bytes of a chunk frame carrying `count` elements of `dtype`. */
export function chunkFrameBytes(count: number, dtype: WireDtype): number {
  return CHUNK_HEADER_BYTES + count * BYTES_PER_ELEMENT[dtype];
}

/** True when `frame` starts with the chunk magic (and so is not MessagePack). */
export function isChunkFrame(frame: Uint8Array): boolean {
  return (
    frame.byteLength >= 4 &&
    frame[0] === CHUNK_MAGIC[0] &&
    frame[1] === CHUNK_MAGIC[1] &&
    frame[2] === CHUNK_MAGIC[2] &&
    frame[3] === CHUNK_MAGIC[3]
  );
}

/**
 * Writes the 32-byte header of `header` at the start of `buf` and returns 32. Use it to send the
 * payload as a second buffer without copying it (e.g. ws `send(head, { fin: false })`, then
 * `send(payloadBytes)`): the receiver sees one message. For float32 only, since other dtypes need
 * converting anyway; {@link encodeChunkInto} does both in one buffer.
 */
export function writeChunkHeader(buf: Uint8Array, header: ChunkHeader): number {
  if (buf.byteLength < CHUNK_HEADER_BYTES) {
    throw new ProtocolError(
      'PROTO_ENCODE',
      `writeChunkHeader needs \`buf\` of at least ${CHUNK_HEADER_BYTES} bytes, but got ${buf.byteLength}`,
    );
  }
  const kind = KIND_CODES[header.type];
  const dtype = DTYPE_CODES[header.dtype];
  if (kind === undefined) {
    throw new ProtocolError(
      'PROTO_ENCODE',
      `Chunk header \`type\` must be 'gradChunk' or 'reducedChunk', but got '${String(header.type)}'`,
    );
  }
  if (dtype === undefined) {
    throw new ProtocolError(
      'PROTO_ENCODE',
      `Chunk header \`dtype\` must be float32, float16 or bfloat16, but got '${String(header.dtype)}'`,
    );
  }
  for (const field of UINT32_FIELDS) {
    const value = header[field];
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new ProtocolError('PROTO_ENCODE', `Chunk header \`${field}\` must be a uint32, but got ${value}`);
    }
  }
  const view = new DataView(buf.buffer, buf.byteOffset, CHUNK_HEADER_BYTES);
  buf.set(CHUNK_MAGIC, 0);
  view.setUint8(4, PROTOCOL_VERSION);
  view.setUint8(5, kind);
  view.setUint8(6, dtype);
  view.setUint8(7, 0);
  view.setUint32(8, header.round, true);
  view.setUint32(12, header.bucket, true);
  view.setUint32(16, header.chunk, true);
  view.setUint32(20, header.offset, true);
  view.setUint32(24, header.count, true);
  view.setUint32(28, header.rank, true);
  return CHUNK_HEADER_BYTES;
}

/**
 * Encodes a chunk frame into the caller's reusable buffer: the header, then `floats` converted to
 * `header.dtype`. Allocates no buffer (only small typed-array views), so a preallocated `buf` of
 * `chunkFrameBytes(maxCount, dtype)` serves every chunk. Returns the frame length: send
 * `buf.subarray(0, length)`.
 *
 * Do not write into `buf` again before the transport is done with the previous frame: ws keeps a
 * reference to an unmasked payload until the socket has flushed it (wait for the send callback,
 * or alternate between two buffers).
 *
 * @example
 * const buf = new Uint8Array(chunkFrameBytes(maxElements, 'float16'));
 * const header = { type: 'gradChunk', round, bucket, chunk: 0, offset: 0, dtype: 'float16', rank } as const;
 * const n = encodeChunkInto(buf, header, grads.subarray(0, 1024));
 * socket.send(buf.subarray(0, n), done);
 */
export function encodeChunkInto(buf: Uint8Array, header: ChunkHeaderInit, floats: Float32Array): number {
  const frameBytes = chunkFrameBytes(floats.length, header.dtype);
  if (!(frameBytes <= buf.byteLength)) {
    throw new ProtocolError(
      'PROTO_ENCODE',
      `encodeChunkInto needs \`buf\` of at least ${frameBytes} bytes for ${floats.length} ${header.dtype} elements, but got ${buf.byteLength}`,
    );
  }
  writeChunkHeader(buf, { ...header, count: floats.length });
  writeFloats(floats, header.dtype, buf, CHUNK_HEADER_BYTES);
  return frameBytes;
}

/**
 * Encodes a chunk message into a fresh buffer (for tests and cold paths; the hot path uses
 * {@link encodeChunkInto}). The payload bytes are copied as they are.
 */
export function encodeChunk(chunk: ChunkMessage): Uint8Array {
  const expected = chunk.count * (BYTES_PER_ELEMENT[chunk.dtype] ?? Number.NaN);
  if (chunk.bytes.byteLength !== expected) {
    throw new ProtocolError(
      'PROTO_ENCODE',
      `${chunk.type}.bytes must hold count × bytesPerElement = ${expected} bytes, but holds ${chunk.bytes.byteLength}`,
    );
  }
  const frame = new Uint8Array(CHUNK_HEADER_BYTES + chunk.bytes.byteLength);
  const { bytes, ...header } = chunk;
  writeChunkHeader(frame, header);
  frame.set(bytes, CHUNK_HEADER_BYTES);
  return frame;
}

/**
 * Decodes a chunk frame. Checks, in order: frame size, header length, magic, version byte, kind,
 * dtype, reserved byte (`PROTO_FRAME_TOO_LARGE`, then `PROTO_BAD_CHUNK`), then that the payload
 * holds exactly `count` elements (`PROTO_BAD_TENSOR`). `bytes` of the result is a view into
 * `frame`, not a copy.
 */
export function decodeChunk(frame: Uint8Array, options?: DecodeOptions): ChunkMessage {
  checkFrameSize(frame.byteLength, options);
  if (frame.byteLength < CHUNK_HEADER_BYTES) {
    throw new ProtocolError(
      'PROTO_BAD_CHUNK',
      `Chunk frame must be at least ${CHUNK_HEADER_BYTES} bytes (the header), but got ${frame.byteLength}`,
    );
  }
  if (!isChunkFrame(frame)) {
    const got = Array.from(frame.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new ProtocolError('PROTO_BAD_CHUNK', `Chunk frame must start with magic 47 4e 43 4b ("GNCK"), but got ${got}`);
  }
  const view = new DataView(frame.buffer, frame.byteOffset, CHUNK_HEADER_BYTES);
  const version = view.getUint8(4);
  if (version !== PROTOCOL_VERSION) {
    throw new ProtocolError('PROTO_BAD_CHUNK', `Chunk frame version byte must be ${PROTOCOL_VERSION}, but got ${version}`);
  }
  const type = KIND_BY_CODE[view.getUint8(5)];
  if (type === undefined) {
    throw new ProtocolError(
      'PROTO_BAD_CHUNK',
      `Chunk frame kind byte must be 1 (gradChunk) or 2 (reducedChunk), but got ${view.getUint8(5)}`,
    );
  }
  const dtype = DTYPE_BY_CODE[view.getUint8(6)];
  if (dtype === undefined) {
    throw new ProtocolError(
      'PROTO_BAD_CHUNK',
      `Chunk frame dtype byte must be 1 (float32), 2 (float16) or 3 (bfloat16), but got ${view.getUint8(6)}`,
    );
  }
  if (view.getUint8(7) !== 0) {
    throw new ProtocolError('PROTO_BAD_CHUNK', `Chunk frame reserved byte 7 must be 0, but got ${view.getUint8(7)}`);
  }
  const count = view.getUint32(24, true);
  const payloadBytes = frame.byteLength - CHUNK_HEADER_BYTES;
  const expected = count * BYTES_PER_ELEMENT[dtype];
  if (payloadBytes !== expected) {
    throw new ProtocolError(
      'PROTO_BAD_TENSOR',
      `${type} payload must hold count × bytesPerElement = ${count} × ${BYTES_PER_ELEMENT[dtype]} = ${expected} bytes of ${dtype}, but holds ${payloadBytes}`,
    );
  }
  return {
    type,
    round: view.getUint32(8, true),
    bucket: view.getUint32(12, true),
    chunk: view.getUint32(16, true),
    offset: view.getUint32(20, true),
    count,
    dtype,
    rank: view.getUint32(28, true),
    bytes: frame.subarray(CHUNK_HEADER_BYTES),
  };
}
