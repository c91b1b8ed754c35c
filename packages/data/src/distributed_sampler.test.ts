// Property tests (fast-check) of DistributedSampler against torch's DistributedSampler semantics.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DistributedSampler } from './distributed_sampler.js';

const setup = fc.record({
  datasetSize: fc.integer({ min: 1, max: 300 }),
  worldSize: fc.integer({ min: 1, max: 9 }),
  seed: fc.integer(),
  epoch: fc.nat(1000),
  dropLast: fc.boolean(),
  shuffle: fc.boolean(),
});

function allRanks(
  setup: { datasetSize: number; worldSize: number; seed: number; dropLast: boolean; shuffle: boolean },
  epoch: number,
): Int32Array[] {
  return Array.from({ length: setup.worldSize }, (_, rank) => new DistributedSampler({ ...setup, rank }).indicesForEpoch(epoch));
}

test('property: equal sizes, in range; disjoint with no padding; padding covers every index', () => {
  fc.assert(
    fc.property(setup, (drawn) => {
      const lists = allRanks(drawn, drawn.epoch);
      const expected = drawn.dropLast ? Math.floor(drawn.datasetSize / drawn.worldSize) : Math.ceil(drawn.datasetSize / drawn.worldSize);
      const counts = new Int32Array(drawn.datasetSize);
      for (const list of lists) {
        assert.equal(list.length, expected);
        for (const i of list) {
          assert.ok(i >= 0 && i < drawn.datasetSize);
          counts[i]!++;
        }
      }
      const total = expected * drawn.worldSize;
      if (drawn.dropLast || drawn.datasetSize % drawn.worldSize === 0) {
        // Disjoint: no index twice; with dropLast exactly datasetSize % worldSize indices are left out.
        assert.ok(counts.every((c) => c <= 1));
        assert.equal(
          counts.reduce((a, c) => a + c, 0),
          total,
        );
      } else {
        // Every index at least once; the repeats are exactly the padding.
        assert.ok(counts.every((c) => c >= 1));
        assert.equal(counts.reduce((a, c) => a + c, 0) - drawn.datasetSize, total - drawn.datasetSize);
      }
    }),
  );
});

test('property: deterministic from (seed, epoch) alone, with no hidden state', () => {
  fc.assert(
    fc.property(setup, fc.integer({ min: 0, max: 8 }), (drawn, r) => {
      const rank = r % drawn.worldSize;
      const a = new DistributedSampler({ ...drawn, rank });
      const first = a.indicesForEpoch(drawn.epoch);
      a.indicesForEpoch(drawn.epoch + 1); // asking for another epoch changes nothing
      assert.deepEqual(a.indicesForEpoch(drawn.epoch), first);
      assert.deepEqual(new DistributedSampler({ ...drawn, rank }).indicesForEpoch(drawn.epoch), first);
    }),
  );
});

test('property: different epochs (and seeds) give different orders', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 20, max: 500 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer(),
      fc.nat(1000),
      (datasetSize, worldSize, seed, epoch) => {
        const s = new DistributedSampler({ datasetSize, worldSize, rank: 0, seed });
        // 20! orders: equal lists by chance are negligible.
        assert.notDeepEqual(s.indicesForEpoch(epoch), s.indicesForEpoch(epoch + 1));
        const t = new DistributedSampler({ datasetSize, worldSize, rank: 0, seed: seed + 1 });
        assert.notDeepEqual(s.indicesForEpoch(epoch), t.indicesForEpoch(epoch));
      },
    ),
  );
});

test('without shuffling it is torch’s interleave: rank r takes r, r + W, ..., wrapping for padding', () => {
  const lists = allRanks({ datasetSize: 10, worldSize: 4, seed: 0, shuffle: false, dropLast: false }, 0);
  assert.deepEqual(
    lists.map((l) => [...l]),
    [
      [0, 4, 8],
      [1, 5, 9],
      [2, 6, 0],
      [3, 7, 1],
    ],
  );
  const dropped = allRanks({ datasetSize: 10, worldSize: 4, seed: 0, shuffle: false, dropLast: true }, 0);
  assert.deepEqual(
    dropped.map((l) => [...l]),
    [
      [0, 4],
      [1, 5],
      [2, 6],
      [3, 7],
    ],
  );
  // Padding longer than the dataset repeats it (torch: indices * ceil(padding / n)).
  const tiny = allRanks({ datasetSize: 2, worldSize: 5, seed: 0, shuffle: false, dropLast: false }, 0);
  assert.deepEqual(
    tiny.map((l) => [...l]),
    [[0], [1], [0], [1], [0]],
  );
  const s = new DistributedSampler({ datasetSize: 45_000, worldSize: 4, rank: 3, seed: 1 });
  assert.equal(s.numSamplesPerRank, 11_250);
  assert.equal(s.totalSize, 45_000);
});

test('bad arguments are DataArgumentErrors naming the argument, what was expected and what came', () => {
  const ok = { datasetSize: 10, worldSize: 4, rank: 0, seed: 1 };
  assert.throws(() => new DistributedSampler({ ...ok, rank: 4 }), {
    name: 'DataArgumentError',
    code: 'DATA_INVALID_ARGUMENT',
    argument: 'rank',
    message: '`rank` passed to `DistributedSampler` must be an integer in [0, worldSize) = [0, 4), but got 4',
  });
  assert.throws(() => new DistributedSampler({ ...ok, rank: -1 }), { argument: 'rank' });
  assert.throws(() => new DistributedSampler({ ...ok, worldSize: 0 }), {
    argument: 'worldSize',
    message: '`worldSize` passed to `DistributedSampler` must be a positive integer, but got 0',
  });
  assert.throws(() => new DistributedSampler({ ...ok, datasetSize: 2.5 }), {
    argument: 'datasetSize',
    message: '`datasetSize` passed to `DistributedSampler` must be a positive integer, but got 2.5',
  });
  assert.throws(() => new DistributedSampler({ ...ok, seed: Number.NaN }), {
    argument: 'seed',
    message: '`seed` passed to `DistributedSampler` must be a safe integer, but got NaN',
  });
  assert.throws(() => new DistributedSampler({ ...ok, shuffle: 'yes' as unknown as boolean }), {
    argument: 'shuffle',
    message: '`shuffle` passed to `DistributedSampler` must be a boolean, but got yes',
  });
  assert.throws(() => new DistributedSampler(ok).indicesForEpoch(-1), {
    argument: 'epoch',
    message: '`epoch` passed to `DistributedSampler.indicesForEpoch` must be a non-negative integer, but got -1',
  });
});
