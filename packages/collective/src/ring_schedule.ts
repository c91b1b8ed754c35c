// The ring all-reduce's schedule as plain arithmetic (after Baidu's ring all-reduce and Horovod /
// NCCL's ring): which segment each rank sends and receives at each step, and where segments start.
//
// Data flows from rank r to rank r - 1 (mod worldSize). Over WebSocket, rank r dials rank r + 1
// (the protocol's `peerHello` direction), so each rank sends on the connection it *accepted*:
// servers do not mask frames (RFC 6455 §5.1), and ws sends a client's masked frame through a
// fresh copy of the payload, which would put a 4 MB allocation on every chunk.
//
// Position p(r) = (worldSize - r) mod worldSize numbers the ranks along the flow (p → p + 1).
// Step s = 0 .. 2(worldSize - 1) - 1: position p sends segment (p - s) mod N and receives segment
// (p - s - 1) mod N. Steps below N - 1 are the reduce-scatter (add what arrives), the rest the
// all-gather (copy what arrives); the segment sent at step s + 1 is the one received at step s.
// After the reduce-scatter position p owns segment (p + 1) mod N, fully summed.

/** Integer modulo that is never negative. */
function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

/** Where `rank` sits along the direction data flows. */
export function ringPosition(rank: number, worldSize: number): number {
  return mod(worldSize - rank, worldSize);
}

/** The rank this rank sends to (`next`) and the one it receives from (`prev`). */
export function ringNeighbours(rank: number, worldSize: number): { next: number; prev: number } {
  return { next: mod(rank - 1, worldSize), prev: mod(rank + 1, worldSize) };
}

/** Steps of one ring all-reduce: N - 1 of reduce-scatter, N - 1 of all-gather. */
export function ringSteps(worldSize: number): number {
  return 2 * (worldSize - 1);
}

/** Segment that position `position` sends at `step`. */
export function ringSendSegment(position: number, step: number, worldSize: number): number {
  return mod(position - step, worldSize);
}

/** Segment that position `position` receives at `step`. */
export function ringRecvSegment(position: number, step: number, worldSize: number): number {
  return mod(position - step - 1, worldSize);
}

/**
 * First element of `segment` when `length` elements are cut into `worldSize` segments whose
 * sizes differ by at most one (the first `length mod worldSize` get one more). Segments are
 * empty when `length < worldSize`. `segmentStart(length, N, N)` is `length`.
 */
export function segmentStart(length: number, worldSize: number, segment: number): number {
  const base = Math.floor(length / worldSize);
  return segment * base + Math.min(segment, length % worldSize);
}

/** Chunks of at most `chunkElements` elements covering `count` elements (0 for an empty segment). */
export function chunksIn(count: number, chunkElements: number): number {
  return Math.ceil(count / chunkElements);
}
