// Ring and star all-reduce over real WebSocket connections on 127.0.0.1.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WireDtype } from '@gnet/protocol';
import { planBuckets } from './bucket_layout.js';
import { PeerLostError, TransportClosedError } from './errors.js';
import { GradientReducer } from './gradient_reducer.js';
import { RingAllReduce } from './ring_all_reduce.js';
import { StarAllReduce } from './star_all_reduce.js';
import { StarHub } from './star_hub.js';
import { bitIdentical, integerGradient, maxAbsDiff, plainSum, randomGradient, ringOrderSum } from './testing/gradients.js';
import { allReduceEverywhere, dieAfter } from './testing/harness.js';
import { wsRing, wsStar } from './testing/ws_group.js';
import type { Transport } from './transport.js';

function ringReducers(
  transports: readonly Transport[],
  buckets: ReturnType<typeof planBuckets>,
  chunkBytes: number,
  wireDtype: WireDtype = 'float32',
): GradientReducer[] {
  const worldSize = transports.length;
  return transports.map(
    (transport, rank) =>
      new GradientReducer({ algorithm: new RingAllReduce({ transport, rank, worldSize, chunkBytes, wireDtype, timeoutMs: 5000 }), buckets }),
  );
}

test('ring over WebSocket: exact sums for N = 2, 3, 4, lengths below N and not divisible by N, several chunk sizes', async () => {
  for (const worldSize of [2, 3, 4]) {
    const group = await wsRing(worldSize);
    try {
      let round = 0;
      for (const [length, chunkBytes] of [[1, 4], [3, 8], [10_007, 64], [10_007, 65_536]] as const) {
        round += 1;
        const buckets = planBuckets([length], 1 << 30);
        const grads = Array.from({ length: worldSize }, (_, r) => integerGradient(r, length));
        const expected = plainSum(grads);
        // New reducers per case (chunk size), same connections: rounds keep increasing.
        const outcomes = await allReduceEverywhere(ringReducers(group.transports, buckets, chunkBytes), grads, round);
        for (const o of outcomes) {
          assert.equal(o.error, null, `N=${worldSize} length=${length}: ${String(o.error)}`);
          assert.equal(maxAbsDiff(o.data, expected), 0, `N=${worldSize} length=${length} chunkBytes=${chunkBytes}`);
        }
      }
    } finally {
      await group.close();
    }
  }
});

test('ring over WebSocket: random floats over several buckets are bit-identical and in the documented order; fp16 within tolerance', async () => {
  const worldSize = 3;
  const group = await wsRing(worldSize);
  try {
    const sizes = [30_000, 17, 50_001];
    const buckets = planBuckets(sizes, 150_000);
    const length = sizes.reduce((a, b) => a + b, 0);
    const grads = Array.from({ length: worldSize }, (_, r) => randomGradient(5, r, length));
    const expected = ringOrderSum(grads, buckets);
    const exact = plainSum(grads);
    const outcomes = await allReduceEverywhere(ringReducers(group.transports, buckets, 16_384), grads, 1);
    for (const o of outcomes) {
      assert.equal(o.error, null);
      assert.ok(bitIdentical(o.data, expected));
    }
    const halves = Array.from({ length: worldSize }, (_, r) => randomGradient(6, r, length));
    const halfExact = plainSum(halves);
    const fp16 = await allReduceEverywhere(ringReducers(group.transports, buckets, 16_384, 'float16'), halves, 2);
    for (const o of fp16) {
      assert.equal(o.error, null);
      assert.ok(bitIdentical(o.data, fp16[0]!.data));
      assert.ok(maxAbsDiff(o.data, halfExact) < 1e-2, `fp16 error ${maxAbsDiff(o.data, halfExact)}`);
    }
    assert.ok(maxAbsDiff(exact, halfExact) > 0); // different inputs, so the second round really ran
  } finally {
    await group.close();
  }
});

test('star over WebSocket: exact sums for N = 2, 3, 4 over several buckets and rounds (N = 3 with zero-key masking)', async () => {
  for (const worldSize of [2, 3, 4]) {
    const group = await wsStar(worldSize, worldSize === 3);
    try {
      const buckets = planBuckets([5, 20_000, 3], 40_000);
      const length = 20_008;
      const hub = new StarHub({ transport: group.transports[worldSize]!, worldSize, buckets, chunkBytes: 8192, timeoutMs: 5000 });
      const reducers = group.transports.slice(0, worldSize).map(
        (transport, rank) =>
          new GradientReducer({ algorithm: new StarAllReduce({ transport, rank, worldSize, chunkBytes: 8192, timeoutMs: 5000 }), buckets }),
      );
      for (const round of [1, 2]) {
        const grads = Array.from({ length: worldSize }, (_, r) => integerGradient(r + round, length));
        const expected = plainSum(grads);
        const [outcomes] = await Promise.all([allReduceEverywhere(reducers, grads, round), hub.reduceRound(round)]);
        for (const o of outcomes) {
          assert.equal(o.error, null, String(o.error));
          assert.equal(maxAbsDiff(o.data, expected), 0);
        }
      }
    } finally {
      await group.close();
    }
  }
});

test('a rank whose process dies mid-round (connections cut) makes every other rank fail promptly', async () => {
  const worldSize = 4;
  const group = await wsRing(worldSize);
  try {
    const length = 400_000;
    const buckets = planBuckets([length], 1 << 30);
    const grads = Array.from({ length: worldSize }, (_, r) => integerGradient(r, length));
    // Rank 2 is cut off (like a killed process: no close frame, code 1006) at its 5th chunk.
    const transports = group.transports.map((t, rank) =>
      rank === 2 ? dieAfter(t, 'recv', 5, () => group.transports[2]!.terminate()) : t,
    );
    const reducers = ringReducers(transports, buckets, 32_768);
    const started = performance.now();
    const outcomes = await allReduceEverywhere(reducers, grads, 1);
    const ms = performance.now() - started;
    for (const rank of [0, 1, 3]) assert.ok(outcomes[rank]!.error instanceof PeerLostError, `rank ${rank}: ${String(outcomes[rank]!.error)}`);
    assert.ok(ms < 3000, `took ${ms} ms with a 5 s timeout`);
    const direct = outcomes[1]!.error as PeerLostError;
    assert.equal(direct.peerRank, 2);
    assert.match(direct.reason, /^connection lost \(1006/);
    assert.ok(outcomes[2]!.error instanceof PeerLostError || outcomes[2]!.error instanceof TransportClosedError);
  } finally {
    await group.close();
  }
});

