// Contiguous evaluation shards: every index exactly once, no padding (unlike DistributedSampler), so
// summed per-rank correct counts give exact accuracy. Same split as numpy.array_split.
import { requireInt } from './validate.js';

/** Half-open range [start, end) of indices. */
export interface IndexRange {
  start: number;
  end: number;
}

/**
 * Rank `rank`'s contiguous slice of [0, datasetSize): the first `datasetSize % worldSize` ranks get
 * one more index than the rest. Ranges are ordered by rank and cover every index exactly once.
 *
 * @example
 * evalShard(10, 4, 0) // { start: 0, end: 3 }; ranks 1..3 get [3, 6), [6, 8), [8, 10)
 */
export function evalShard(datasetSize: number, worldSize: number, rank: number): IndexRange {
  requireInt(datasetSize, 'datasetSize', 'evalShard', 0);
  requireInt(worldSize, 'worldSize', 'evalShard', 1);
  requireInt(rank, 'rank', 'evalShard', 0, worldSize - 1, `an integer in [0, worldSize) = [0, ${worldSize})`);
  const base = Math.floor(datasetSize / worldSize);
  const extra = datasetSize % worldSize;
  const start = rank * base + Math.min(rank, extra);
  return { start, end: start + base + (rank < extra ? 1 : 0) };
}
