// How an all-reduce cuts a bucket into chunk frames: payload bytes per chunk, wire dtype, send
// buffers and the bound on each wait, checked once at construction (a bad value ends the process
// at start-up, STYLE.md "Errors").
import { BYTES_PER_ELEMENT, CHUNK_HEADER_BYTES, type WireDtype } from '@gnet/protocol';
import { CollectiveConfigError } from './errors.js';

/**
 * Default bound on one send or receive, in milliseconds (2 minutes). A rank waits in its first
 * receive for its neighbour to finish computing its own gradient, which on a CPU backend takes
 * seconds to tens of seconds per GoogLeNet step; two minutes still ends a stuck round.
 */
export const DEFAULT_COLLECTIVE_TIMEOUT_MS = 120_000;

/**
 * Default payload of one chunk frame, in bytes (2 MiB): large enough that per-frame costs (a
 * syscall, a promise, a header check) vanish next to copying the bytes, small enough that
 * sending, receiving and adding overlap within a 25 MB gradient.
 */
export const DEFAULT_CHUNK_BYTES = 2 * 1024 * 1024;

/** Default number of send buffers per sender: one being flushed while the next is filled. */
export const DEFAULT_SEND_BUFFERS = 2;

/** Chunking options shared by every all-reduce (the `welcome.allReduce` fields plus local ones). */
export interface ChunkOptions {
  /** Largest payload of one chunk frame, in bytes; a positive multiple of 4. Default {@link DEFAULT_CHUNK_BYTES}. */
  chunkBytes?: number;
  /** Element type on the wire; sums are always accumulated in float32. Default `float32`. */
  wireDtype?: WireDtype;
  /** Bound on each send and receive, in milliseconds. Default {@link DEFAULT_COLLECTIVE_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** Preallocated send buffers per sender (frames in flight). Default {@link DEFAULT_SEND_BUFFERS}. */
  sendBuffers?: number;
}

/** {@link ChunkOptions} checked and resolved. */
export interface ChunkSettings {
  chunkBytes: number;
  wireDtype: WireDtype;
  timeoutMs: number;
  sendBuffers: number;
  /** Elements per full chunk: `chunkBytes / bytesPerElement(wireDtype)`. */
  chunkElements: number;
  /** Bytes of the largest chunk frame, header included: also the receiver's frame-size limit. */
  maxFrameBytes: number;
}

const WIRE_DTYPES: readonly WireDtype[] = ['float32', 'float16', 'bfloat16'];

/** Checks `options` (naming `owner` in errors) and fills in the defaults. */
export function resolveChunkSettings(options: ChunkOptions, owner: string): ChunkSettings {
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const wireDtype = options.wireDtype ?? 'float32';
  const timeoutMs = options.timeoutMs ?? DEFAULT_COLLECTIVE_TIMEOUT_MS;
  const sendBuffers = options.sendBuffers ?? DEFAULT_SEND_BUFFERS;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 4 || chunkBytes % 4 !== 0) {
    throw new CollectiveConfigError(`${owner} \`chunkBytes\` must be a positive multiple of 4, but got ${chunkBytes}`);
  }
  // Checked at run time too: the options may come from an untyped config file.
  const bytesPerElement = WIRE_DTYPES.includes(wireDtype) ? BYTES_PER_ELEMENT[wireDtype] : undefined;
  if (bytesPerElement === undefined) {
    throw new CollectiveConfigError(`${owner} \`wireDtype\` must be float32, float16 or bfloat16, but got '${String(wireDtype)}'`);
  }
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
    throw new CollectiveConfigError(`${owner} \`timeoutMs\` must be a positive finite number, but got ${timeoutMs}`);
  }
  if (!Number.isInteger(sendBuffers) || sendBuffers < 1) {
    throw new CollectiveConfigError(`${owner} \`sendBuffers\` must be a positive integer, but got ${sendBuffers}`);
  }
  return {
    chunkBytes,
    wireDtype,
    timeoutMs,
    sendBuffers,
    chunkElements: chunkBytes / bytesPerElement,
    maxFrameBytes: CHUNK_HEADER_BYTES + chunkBytes,
  };
}

/** Checks a rank / worldSize pair, naming `owner` in errors. */
export function checkRank(rank: number, worldSize: number, owner: string): void {
  if (!Number.isInteger(worldSize) || worldSize < 1) {
    throw new CollectiveConfigError(`${owner} \`worldSize\` must be a positive integer, but got ${worldSize}`);
  }
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new CollectiveConfigError(`${owner} \`rank\` must be an integer in [0, ${worldSize}), but got ${rank}`);
  }
}
