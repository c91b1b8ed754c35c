import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chunksIn, ringNeighbours, ringPosition, ringRecvSegment, ringSendSegment, ringSteps, segmentStart } from './ring_schedule.js';

test('segments cover [0, length) with sizes differing by at most one, empty when length < worldSize', () => {
  for (const n of [1, 2, 3, 4, 7]) {
    for (const length of [0, 1, 2, 3, 5, 8, 1001]) {
      assert.equal(segmentStart(length, n, 0), 0);
      assert.equal(segmentStart(length, n, n), length);
      const sizes = Array.from({ length: n }, (_, k) => segmentStart(length, n, k + 1) - segmentStart(length, n, k));
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `sizes ${sizes.join(',')}`);
      assert.ok(sizes.every((s) => s >= 0));
    }
  }
  assert.deepEqual(
    [0, 1, 2, 3, 4].map((k) => segmentStart(2, 4, k)),
    [0, 1, 2, 2, 2],
  );
  assert.deepEqual(
    [0, 1, 2, 3].map((k) => segmentStart(10, 3, k)),
    [0, 4, 7, 10],
  );
});

test('data flows to rank - 1; each step forwards what the previous step received', () => {
  assert.deepEqual(ringNeighbours(0, 4), { next: 3, prev: 1 });
  assert.deepEqual(ringNeighbours(3, 4), { next: 2, prev: 0 });
  for (const n of [2, 3, 4, 5]) {
    for (let rank = 0; rank < n; rank += 1) {
      const p = ringPosition(rank, n);
      const { next, prev } = ringNeighbours(rank, n);
      // The one we send to sits one position further along the flow.
      assert.equal(ringPosition(next, n), (p + 1) % n);
      assert.equal(ringPosition(prev, n), (p - 1 + n) % n);
      for (let s = 1; s < ringSteps(n); s += 1) assert.equal(ringSendSegment(p, s, n), ringRecvSegment(p, s - 1, n));
      // What prev sends at step s is what we receive at step s.
      for (let s = 0; s < ringSteps(n); s += 1) assert.equal(ringSendSegment(ringPosition(prev, n), s, n), ringRecvSegment(p, s, n));
      // After the reduce-scatter we own segment p + 1, which we send first in the all-gather.
      assert.equal(ringRecvSegment(p, n - 2, n), (p + 1) % n);
      assert.equal(ringSendSegment(p, n - 1, n), (p + 1) % n);
    }
  }
});

test('chunksIn counts full and partial chunks', () => {
  assert.equal(chunksIn(0, 4), 0);
  assert.equal(chunksIn(1, 4), 1);
  assert.equal(chunksIn(4, 4), 1);
  assert.equal(chunksIn(5, 4), 2);
});
