// Receiving the chunk frames of the current round: decode (the protocol's checks), drop late
// frames of earlier, aborted rounds (round numbers are never reused, so they are recognisable),
// and check that the header is exactly the chunk the algorithm expects next. Any other frame is
// a ProtocolError (`PROTO_UNEXPECTED`), which closes the connection.
import { decodeChunk, ProtocolError, type ChunkHeader, type ChunkMessage } from '@gnet/protocol';
import type { Transport, WaitOptions } from './transport.js';

/** Counters an all-reduce keeps about what it received (for logs and tests). */
export interface ReceiveStats {
  /** Late frames of earlier rounds dropped. */
  staleChunksDropped: number;
}

/**
 * The next chunk frame from `peerRank` that belongs to `options.round` or later: frames of
 * earlier rounds are dropped. Decoding errors propagate as `ProtocolError`.
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
    const chunk = decodeChunk(frame, { maxFrameBytes });
    if (chunk.round >= options.round) return chunk;
    stats.staleChunksDropped += 1;
  }
}

/**
 * Throws `PROTO_UNEXPECTED` unless `chunk`'s header equals `expected` field for field, naming
 * the operation, what was expected and what came.
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
  throw new ProtocolError(
    'PROTO_UNEXPECTED',
    `${operation} expected ${describe(expected)}, but got ${describe(chunk)}`,
  );
}

function describe(h: ChunkHeader): string {
  return `${h.type} {round ${h.round}, bucket ${h.bucket}, chunk ${h.chunk}, offset ${h.offset}, count ${h.count}, ${h.dtype}, from rank ${h.rank}}`;
}
