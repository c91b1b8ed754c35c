// The elastic sharding's promises: slices tile the global batch; one rank with batch B sees what
// W ranks see together; and a group whose size changes mid-epoch still covers the epoch's
// samples exactly once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { GlobalBatchSampler, rankSlice } from './global_batch_sampler.js';
import { DataArgumentError } from './errors.js';

describe('rankSlice', () => {
  it('tiles [0, B) in rank order with sizes differing by at most one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 0, max: 500 }), (worldSize, extra) => {
        const b = worldSize + extra;
        let next = 0;
        const sizes: number[] = [];
        for (let r = 0; r < worldSize; r += 1) {
          const s = rankSlice(r, worldSize, b);
          assert.equal(s.start, next);
          next = s.end;
          sizes.push(s.end - s.start);
        }
        assert.equal(next, b);
        assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
        assert.ok(Math.min(...sizes) >= 1);
      }),
    );
  });

  it('refuses a global batch smaller than the world size', () => {
    assert.throws(
      () => rankSlice(0, 4, 3),
      (err: unknown) =>
        err instanceof DataArgumentError &&
        /`globalBatch` passed to `rankSlice` must be an integer >= worldSize \(4\), but got 3/.test(err.message),
    );
  });
});

describe('GlobalBatchSampler', () => {
  it('W ranks together see what one rank sees with the whole batch', () => {
    const s = new GlobalBatchSampler({ datasetSize: 1000, globalBatch: 96, seed: 7 });
    for (const worldSize of [2, 3, 5]) {
      const whole = s.positions(1, 4, 0, 1);
      const parts = Array.from({ length: worldSize }, (_, r) => [...s.positions(1, 4, r, worldSize)]).flat();
      assert.deepEqual(parts, [...whole]);
    }
  });

  it('covers each sample of the epoch once even when the world size changes between steps', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 50, max: 400 }),
        fc.integer({ min: 4, max: 40 }),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 40 }),
        (n, b, sizes) => {
          const s = new GlobalBatchSampler({ datasetSize: n, globalBatch: Math.min(b, n), seed: 3 });
          const seen: number[] = [];
          for (let step = 0; step < s.stepsPerEpoch; step += 1) {
            const worldSize = Math.min(sizes[step % sizes.length]!, s.globalBatch);
            for (let r = 0; r < worldSize; r += 1) seen.push(...s.positions(0, step, r, worldSize));
          }
          assert.equal(seen.length, s.stepsPerEpoch * s.globalBatch);
          assert.equal(new Set(seen).size, seen.length, 'a sample was seen twice');
          assert.ok(seen.every((p) => p >= 0 && p < n));
        },
      ),
    );
  });

  it('permutes differently per epoch and repeatably', () => {
    const a = new GlobalBatchSampler({ datasetSize: 500, globalBatch: 50, seed: 1 });
    const b = new GlobalBatchSampler({ datasetSize: 500, globalBatch: 50, seed: 1 });
    assert.deepEqual([...a.positions(2, 3, 1, 2)], [...b.positions(2, 3, 1, 2)]);
    assert.notDeepEqual([...a.positions(0, 0, 0, 1)], [...a.positions(1, 0, 0, 1)]);
  });

  it('names a step beyond the epoch', () => {
    const s = new GlobalBatchSampler({ datasetSize: 100, globalBatch: 30, seed: 1 });
    assert.equal(s.stepsPerEpoch, 3);
    assert.throws(
      () => s.positions(0, 3, 0, 1),
      /`step` passed to `GlobalBatchSampler.positions` must be an integer in \[0, stepsPerEpoch\) = \[0, 3\), but got 3/,
    );
  });
});
