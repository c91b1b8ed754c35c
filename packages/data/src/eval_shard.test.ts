// Property tests (fast-check) of evalShard: contiguous, balanced to within one, exact cover.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { evalShard } from './eval_shard.js';

test('property: ranges are contiguous in rank order, differ in size by at most one, cover every index once', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 1, max: 64 }), (datasetSize, worldSize) => {
      let next = 0;
      const sizes: number[] = [];
      for (let rank = 0; rank < worldSize; rank++) {
        const { start, end } = evalShard(datasetSize, worldSize, rank);
        assert.equal(start, next);
        assert.ok(end >= start);
        sizes.push(end - start);
        next = end;
      }
      assert.equal(next, datasetSize);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
      assert.deepEqual(
        sizes,
        [...sizes].sort((a, b) => b - a),
        'larger shards come first',
      );
    }),
  );
});

test('10,000 test images over 3 ranks, and a bad rank', () => {
  assert.deepEqual(
    [0, 1, 2].map((r) => evalShard(10_000, 3, r)),
    [
      { start: 0, end: 3334 },
      { start: 3334, end: 6667 },
      { start: 6667, end: 10_000 },
    ],
  );
  assert.throws(() => evalShard(10, 2, 2), {
    name: 'DataArgumentError',
    code: 'DATA_INVALID_ARGUMENT',
    argument: 'rank',
    message: '`rank` passed to `evalShard` must be an integer in [0, worldSize) = [0, 2), but got 2',
  });
  assert.throws(() => evalShard(-1, 2, 0), {
    argument: 'datasetSize',
    message: '`datasetSize` passed to `evalShard` must be a non-negative integer, but got -1',
  });
});
