// Who sent a malformed frame in a broken ring (step 2 of recovery.ts): the coordinator never sees
// ring traffic, so it goes by the `roundFailed` reports of the ranks that received one (code
// `COLLECTIVE_BAD_FRAME`, `peerRank` the sender). It blames the peer that sent a bad frame, not
// the one that received it (shared/STYLE.md). A pure function, so the policy is unit-tested apart
// from the sockets. The star hub needs none of this: it reads every chunk itself and names the
// sender (generation.ts).
//
// Limits: the coordinator can only take a reporter at its word. A ring rank receives from exactly
// one rank (its `prev`), so a report naming any other rank is dropped; and a rank that sent a bad
// frame loses its own word (see `malformedFrameSenders`). But a rank that nobody accuses can
// still get an honest neighbour evicted by a false report, and when every rank of a ring accuses
// its neighbour (with N = 2: the two accuse each other) there is no majority to tell the liar
// from the honest: all accused are evicted, since keeping the sender of bad frames would fail
// every later round too. Without signed frames or a third party that saw the bytes, no
// coordinator can do better.
import { ringNeighbours } from '@gnet/collective';
import type { AllReduceAlgorithm, RoundFailed } from '@gnet/protocol';

/** The `roundFailed` code of a worker that received a malformed frame (the collective's `BadFrameError`). */
export const BAD_FRAME_CODE = 'COLLECTIVE_BAD_FRAME';

/** A `roundFailed` as the group received it. */
export interface FailureReport {
  /** The reporting rank. */
  rank: number;
  report: RoundFailed;
}

/** A rank to evict for sending a malformed frame. */
export interface Culprit {
  rank: number;
  /** The rank whose report convicts it. */
  accusedBy: number;
  /** The report's own words (names the operation, the protocol code and what was wrong). */
  reason: string;
}

/**
 * The senders of malformed frames in `round` of a generation of `worldSize` ranks, from its
 * `roundFailed` reports. Only rings have worker-to-worker frames; star reports name the hub (us).
 * Each accusation must name the reporter's ring `prev`. An accusation counts unless its reporter
 * is itself accused by one that counts: along a chain of accusations the first one (by a rank
 * nobody accuses) counts, the next does not, and so on; in a closed cycle all count.
 *
 * @example
 * // Ring of 3: rank 0 receives from rank 1 and says rank 1's chunk did not decode.
 * malformedFrameSenders([{ rank: 0, report: { type: 'roundFailed', round: 7, code: 'COLLECTIVE_BAD_FRAME', message: '…', peerRank: 1 } }],
 *   { round: 7, worldSize: 3, algorithm: 'ring' });
 * // → [{ rank: 1, accusedBy: 0, reason: '…' }]
 */
export function malformedFrameSenders(
  reports: readonly FailureReport[],
  options: { round: number; worldSize: number; algorithm: AllReduceAlgorithm },
): Culprit[] {
  if (options.algorithm !== 'ring' || options.worldSize < 2) return [];
  /** accuser → its accusation; accused → its accuser (one each: a rank hears from its prev only). */
  const accusations = new Map<number, FailureReport>();
  const accuserOf = new Map<number, number>();
  for (const failure of reports) {
    const { rank, report } = failure;
    if (report.round !== options.round || report.code !== BAD_FRAME_CODE || accusations.has(rank)) continue;
    if (rank < 0 || rank >= options.worldSize || report.peerRank !== ringNeighbours(rank, options.worldSize).prev) continue;
    accusations.set(rank, failure);
    accuserOf.set(report.peerRank, rank);
  }
  const counts = (accuser: number): boolean => {
    let hops = 0;
    for (let r = accuser; hops <= options.worldSize; hops += 1) {
      const against = accuserOf.get(r);
      if (against === undefined) return hops % 2 === 0;
      if (against === accuser) return true;
      r = against;
    }
    return true;
  };
  return [...accusations.values()]
    .filter((a) => counts(a.rank))
    .map((a) => ({ rank: a.report.peerRank!, accusedBy: a.rank, reason: a.report.message }))
    .sort((a, b) => a.rank - b.rank);
}
