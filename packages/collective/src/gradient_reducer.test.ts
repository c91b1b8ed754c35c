import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planBuckets } from './bucket_layout.js';
import { CollectiveUsageError, RoundAbortedError } from './errors.js';
import { GradientReducer } from './gradient_reducer.js';
import { MemoryHub } from './memory_transport.js';
import { RingAllReduce } from './ring_all_reduce.js';
import { integerGradient, maxAbsDiff, plainSum } from './testing/gradients.js';
import { ringGroup } from './testing/harness.js';

test('buckets handed over one by one, in reverse, while the caller fills the next, sum exactly', async () => {
  const worldSize = 3;
  const sizes = [500, 20, 1200, 7, 300];
  const buckets = planBuckets(sizes, 2100);
  const total = sizes.reduce((a, b) => a + b, 0);
  const full = Array.from({ length: worldSize }, (_, r) => integerGradient(r, total));
  const expected = plainSum(full);
  const { reducers } = ringGroup({ worldSize, buckets, chunkBytes: 64, latencyMs: 1 });
  const results = await Promise.all(
    reducers.map(async (reducer, rank) => {
      // Like backward: gradients become final from the last bucket to the first.
      const flat = new Float32Array(total);
      const handed: Promise<void>[] = [];
      for (const b of [...buckets].reverse()) {
        flat.set(full[rank]!.subarray(b.offset, b.offset + b.length), b.offset);
        handed.push(reducer.reduceBucket(flat, b.bucket, 2));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await reducer.flush();
      await Promise.all(handed);
      return flat;
    }),
  );
  for (const flat of results) assert.equal(maxAbsDiff(flat, expected), 0);
});

test('misuse is a CollectiveUsageError naming the problem', async () => {
  const buckets = planBuckets([4, 4], 16);
  const hub = new MemoryHub(1);
  const reducer = new GradientReducer({ algorithm: new RingAllReduce({ transport: hub.endpoint(0), rank: 0, worldSize: 1 }), buckets });
  const flat = new Float32Array(8);
  assert.throws(() => reducer.reduceBucket(new Float32Array(7), 0, 1), {
    name: 'CollectiveUsageError',
    message: "GradientReducer.reduceBucket `flat` must have the layout's 8 elements, but has 7",
  });
  assert.throws(() => reducer.reduceBucket(flat, 2, 1), { message: 'GradientReducer.reduceBucket `bucket` must be in [0, 2), but got 2' });
  await reducer.reduceBucket(flat, 1, 1);
  assert.throws(() => reducer.reduceBucket(flat, 1, 1), {
    message: 'GradientReducer.reduceBucket: bucket 1 was already handed over in round 1',
  });
  assert.throws(() => reducer.reduceBucket(flat, 0, 2), {
    message: 'GradientReducer.reduceBucket: round 2 cannot start before round 1 is flushed',
  });
  await assert.rejects(reducer.flush(), (err: unknown) => {
    assert.ok(err instanceof CollectiveUsageError);
    assert.equal(err.code, 'COLLECTIVE_USAGE');
    assert.equal(err.message, 'GradientReducer.flush: round 1 must reduce all 2 buckets, but buckets 0 were never handed over');
    return true;
  });
  await reducer.allReduce(flat, { round: 2 }); // the next round starts cleanly
});

test('abort fails the round at once with RoundAbortedError, and the next round works', async () => {
  const worldSize = 2;
  const buckets = planBuckets([1000, 1000], 4000);
  const { reducers } = ringGroup({ worldSize, buckets, chunkBytes: 64, timeoutMs: 30_000 });
  const flat = integerGradient(0, 2000);
  // Only rank 0 runs: it waits on rank 1 until aborted.
  const running = reducers[0]!.allReduce(flat, { round: 1 });
  const started = performance.now();
  setTimeout(() => reducers[0]!.abort('roundAbort: rank 1 missing for 30000 ms'), 20);
  await assert.rejects(running, (err: unknown) => {
    assert.ok(err instanceof RoundAbortedError);
    assert.equal(err.round, 1);
    assert.equal(err.message, 'Round 1 was aborted: roundAbort: rank 1 missing for 30000 ms');
    return true;
  });
  assert.ok(performance.now() - started < 1000);
  // Round 2 on both ranks; rank 0's late chunks of round 1 are dropped by rank 1.
  const grads = [integerGradient(0, 2000), integerGradient(1, 2000)];
  const expected = plainSum(grads);
  await Promise.all(reducers.map((r, rank) => r.allReduce(grads[rank]!, { round: 2 })));
  for (const g of grads) assert.equal(maxAbsDiff(g, expected), 0);
});
