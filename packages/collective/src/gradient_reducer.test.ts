import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planBuckets } from './bucket_layout.js';
import { CollectiveUsageError, RoundAbortedError } from './errors.js';
import { integerGradient, maxAbsDiff, plainSum } from './testing/gradients.js';
import { ringGroup } from './testing/harness.js';

test('buckets of uneven sizes sum exactly, on every rank', async () => {
  const worldSize = 3;
  const sizes = [500, 20, 1200, 7, 300];
  const buckets = planBuckets(sizes, 2100);
  assert.ok(buckets.length > 1, 'the layout must have several buckets');
  const total = sizes.reduce((a, b) => a + b, 0);
  const full = Array.from({ length: worldSize }, (_, r) => integerGradient(r, total));
  const expected = plainSum(full);
  const { reducers } = ringGroup({ worldSize, buckets, chunkBytes: 64, latencyMs: 1 });
  await Promise.all(reducers.map((reducer, rank) => reducer.allReduce(full[rank]!, { round: 2 })));
  for (const flat of full) assert.equal(maxAbsDiff(flat, expected), 0);
});

test('misuse is a CollectiveUsageError naming the problem', async () => {
  const buckets = planBuckets([4, 4], 16);
  const { reducers } = ringGroup({ worldSize: 2, buckets, chunkBytes: 64, timeoutMs: 30_000 });
  const reducer = reducers[0]!;
  await assert.rejects(reducer.allReduce(new Float32Array(7), { round: 1 }), {
    name: 'CollectiveUsageError',
    message: "GradientReducer.allReduce `flat` must have the layout's 8 elements, but has 7",
  });
  // Rank 1 never joins: round 1 stays in progress until aborted.
  const running = reducer.allReduce(new Float32Array(8), { round: 1 });
  await assert.rejects(reducer.allReduce(new Float32Array(8), { round: 2 }), (err: unknown) => {
    assert.ok(err instanceof CollectiveUsageError);
    assert.equal(err.code, 'COLLECTIVE_USAGE');
    assert.equal(err.message, 'GradientReducer.allReduce: round 2 cannot start while another round is in progress');
    return true;
  });
  reducer.abort('test over');
  await assert.rejects(running, RoundAbortedError);
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
  for (const grad of grads) assert.equal(maxAbsDiff(grad, expected), 0);
});
