import assert from 'node:assert/strict';
import { test } from 'node:test';
import { malformedFrameSenders, type FailureReport } from './blame.js';

/** A `roundFailed` from `rank` naming `peerRank`; in a ring rank r receives from r + 1 (mod N). */
function report(rank: number, peerRank: number | null, code = 'COLLECTIVE_BAD_FRAME', round = 7): FailureReport {
  return {
    rank,
    report: { type: 'roundFailed', round, code, message: `Rank ${peerRank} sent a malformed frame (from ${rank})`, peerRank },
  };
}

const ring3 = { round: 7, worldSize: 3, algorithm: 'ring' as const };

test('the honest case: the rank that received a malformed frame names its sender, who is the one blamed', () => {
  // Rank 2 sent rank 1 a bad chunk; rank 1 closed its ring, so ranks 0 and 2 report a lost peer (rank 1).
  const reports = [report(2, 1, 'COLLECTIVE_PEER_LOST'), report(1, 2), report(0, 1, 'COLLECTIVE_PEER_LOST')];
  assert.deepEqual(malformedFrameSenders(reports, ring3), [{ rank: 2, accusedBy: 1, reason: 'Rank 2 sent a malformed frame (from 1)' }]);
});

test('no blame without a bad-frame report, for another round, or in a star group', () => {
  assert.deepEqual(malformedFrameSenders([report(0, 1, 'COLLECTIVE_TIMEOUT'), report(1, 2, 'COLLECTIVE_PEER_LOST')], ring3), []);
  assert.deepEqual(malformedFrameSenders([report(1, 2, 'COLLECTIVE_BAD_FRAME', 6)], ring3), []);
  // Star workers receive only from the hub (rank N): their reports name us, never a worker.
  assert.deepEqual(malformedFrameSenders([report(1, 3)], { ...ring3, algorithm: 'star' }), []);
});

test('a report naming a rank the reporter never receives from is not believed', () => {
  // Rank 1 receives from rank 2 only; it cannot have seen a frame of rank 0.
  assert.deepEqual(malformedFrameSenders([report(1, 0), report(1, null), report(5, 0)], ring3), []);
});

test('a rank convicted of a bad frame loses its word: its counter-accusation does not evict its honest neighbour', () => {
  // Rank 2 sent the bad frame (rank 1 says so) and accuses its own prev, rank 0, to muddy the water.
  const reports = [report(2, 0), report(1, 2)];
  assert.deepEqual(
    malformedFrameSenders(reports, ring3).map((c) => c.rank),
    [2],
  );
  // Along a longer chain the word alternates: 0 accuses 1 (counts), 1 accuses 2 (void), 2 accuses 3 (counts).
  const ring5 = { round: 7, worldSize: 5, algorithm: 'ring' as const };
  assert.deepEqual(
    malformedFrameSenders([report(2, 3), report(1, 2), report(0, 1)], ring5).map((c) => c.rank),
    [1, 3],
  );
});

test('two ranks accusing each other (N = 2): no majority, both are evicted (the documented limit)', () => {
  const ring2 = { round: 7, worldSize: 2, algorithm: 'ring' as const };
  assert.deepEqual(
    malformedFrameSenders([report(0, 1), report(1, 0)], ring2).map((c) => c.rank),
    [0, 1],
  );
});

test('a rank that reports twice is heard once', () => {
  assert.deepEqual(
    malformedFrameSenders([report(1, 2), report(1, 2)], ring3).map((c) => c.rank),
    [2],
  );
});
