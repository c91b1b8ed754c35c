// Receiving the chunk frames of the current round: decode (the protocol's checks), drop late
// frames of earlier, aborted rounds (round numbers are never reused, so they are recognisable),
// and check that the header is exactly the chunk the algorithm expects next. Any other frame is
// the sender's fault: a `BadFrameError` naming the rank it arrived from (the `ProtocolError` is
// its cause), which fails the round and closes the connection.
import { decodeChunk, ProtocolError, type ChunkHeader, type ChunkMessage } from '@gnet/protocol';
import { BadFrameError } from './errors.js';
import type { Transport, WaitOptions } from './transport.js';

/** Counters an all-reduce keeps about what it received (for logs and tests). */
export interface ReceiveStats {
  /** Late frames of earlier rounds dropped. */
  staleChunksDropped: number;
}

/**
 * The next chunk frame from `peerRank` that belongs to `options.round` or later: frames of
 * earlier rounds are dropped. A frame that does not decode throws `BadFrameError` naming
 * `peerRank`, the connection it came on.
 */
export async function recvChunk(
  transport: Transport,
  peerRank: number,
  options: WaitOptions,
  maxFrameBytes: number,
  stats: ReceiveStats,
): Promise<ChunkMessage> {
  for (;;) {
    const frame = await transport.recv(peerRank, options);
    let chunk: ChunkMessage;
    try {
      chunk = decodeChunk(frame, { maxFrameBytes });
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      throw new BadFrameError({ peerRank, operation: options.operation, round: options.round }, err);
    }
    if (chunk.round >= options.round) return chunk;
    stats.staleChunksDropped += 1;
  }
}

/**
 * Throws `BadFrameError` (cause `PROTO_UNEXPECTED`) unless `chunk`'s header equals `expected`
 * field for field, naming the operation, what was expected and what came. `expected.rank` is the
 * rank `chunk` was received from (every caller receives a chunk from the rank that must send
 * it), so that rank is the one blamed.
 */
export function expectChunk(chunk: ChunkMessage, expected: ChunkHeader, operation: string): void {
  if (
    chunk.type === expected.type &&
    chunk.round === expected.round &&
    chunk.bucket === expected.bucket &&
    chunk.chunk === expected.chunk &&
    chunk.offset === expected.offset &&
    chunk.count === expected.count &&
    chunk.dtype === expected.dtype &&
    chunk.rank === expected.rank
  ) {
    return;
  }
  // The BadFrameError names the operation and round; the cause says what was wrong.
  const err = new ProtocolError('PROTO_UNEXPECTED', `expected ${describe(expected)}, but got ${describe(chunk)}`);
  throw new BadFrameError({ peerRank: expected.rank, operation, round: expected.round }, err);
}

function describe(h: ChunkHeader): string {
  return `${h.type} {round ${h.round}, bucket ${h.bucket}, chunk ${h.chunk}, offset ${h.offset}, count ${h.count}, ${h.dtype}, from rank ${h.rank}}`;
}
