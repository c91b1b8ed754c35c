// Ring and star all-reduce over real WebSocket connections on 127.0.0.1.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chunkFrameBytes, encodeChunkInto, type WireDtype } from '@gnet/protocol';
import { planBuckets } from './bucket_layout.js';
import { BadFrameError, PeerLostError, TransportClosedError } from './errors.js';
import { GradientReducer } from './gradient_reducer.js';
import { RingAllReduce } from './ring_all_reduce.js';
import { StarAllReduce } from './star_all_reduce.js';
import { StarHub } from './star_hub.js';
import { bitIdentical, integerGradient, maxAbsDiff, plainSum, randomGradient, ringOrderSum } from './testing/gradients.js';
import { allReduceEverywhere, corruptSend, dieAfter } from './testing/harness.js';
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
      new GradientReducer({
        algorithm: new RingAllReduce({ transport, rank, worldSize, chunkBytes, wireDtype, timeoutMs: 5000 }),
        buckets,
      }),
  );
}

test('ring over WebSocket: exact sums for N = 2, 3, 4, lengths below N and not divisible by N, several chunk sizes', async () => {
  for (const worldSize of [2, 3, 4]) {
    const group = await wsRing(worldSize);
    try {
      let round = 0;
      for (const [length, chunkBytes] of [
        [1, 4],
        [3, 8],
        [10_007, 64],
        [10_007, 65_536],
      ] as const) {
        round += 1;
        const buckets = planBuckets([length], 1 << 30);
        const grads = Array.from({ length: worldSize }, (_, r) => integerGradient(r, length));
        const expected = plainSum(grads);
        // New reducers per case (chunk size), same connections: rounds keep increasing.
        const outcomes = await allReduceEverywhere(ringReducers(group.transports, buckets, chunkBytes), grads, round);
        for (const outcome of outcomes) {
          assert.equal(outcome.error, null, `N=${worldSize} length=${length}: ${String(outcome.error)}`);
          assert.equal(maxAbsDiff(outcome.data, expected), 0, `N=${worldSize} length=${length} chunkBytes=${chunkBytes}`);
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
    for (const outcome of outcomes) {
      assert.equal(outcome.error, null);
      assert.ok(bitIdentical(outcome.data, expected));
    }
    const halves = Array.from({ length: worldSize }, (_, r) => randomGradient(6, r, length));
    const halfExact = plainSum(halves);
    const fp16 = await allReduceEverywhere(ringReducers(group.transports, buckets, 16_384, 'float16'), halves, 2);
    for (const outcome of fp16) {
      assert.equal(outcome.error, null);
      assert.ok(bitIdentical(outcome.data, fp16[0]!.data));
      assert.ok(maxAbsDiff(outcome.data, halfExact) < 1e-2, `fp16 error ${maxAbsDiff(outcome.data, halfExact)}`);
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
          new GradientReducer({
            algorithm: new StarAllReduce({ transport, rank, worldSize, chunkBytes: 8192, timeoutMs: 5000 }),
            buckets,
          }),
      );
      for (const round of [1, 2]) {
        const grads = Array.from({ length: worldSize }, (_, r) => integerGradient(r + round, length));
        const expected = plainSum(grads);
        const [outcomes] = await Promise.all([allReduceEverywhere(reducers, grads, round), hub.reduceRound(round)]);
        for (const outcome of outcomes) {
          assert.equal(outcome.error, null, String(outcome.error));
          assert.equal(maxAbsDiff(outcome.data, expected), 0);
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
    const transports = group.transports.map((t, rank) => (rank === 2 ? dieAfter(t, 'recv', 5, () => group.transports[2]!.terminate()) : t));
    const reducers = ringReducers(transports, buckets, 32_768);
    const started = performance.now();
    const outcomes = await allReduceEverywhere(reducers, grads, 1);
    const ms = performance.now() - started;
    for (const rank of [0, 1, 3])
      assert.ok(outcomes[rank]!.error instanceof PeerLostError, `rank ${rank}: ${String(outcomes[rank]!.error)}`);
    assert.ok(ms < 3000, `took ${ms} ms with a 5 s timeout`);
    const direct = outcomes[1]!.error as PeerLostError;
    assert.equal(direct.peerRank, 2);
    assert.match(direct.reason, /^connection lost \(1006/);
    assert.ok(outcomes[2]!.error instanceof PeerLostError || outcomes[2]!.error instanceof TransportClosedError);
  } finally {
    await group.close();
  }
});

test('ring over WebSocket: a malformed chunk is blamed on the rank whose connection it came on, which is closed with 1002 and the protocol code', async () => {
  const worldSize = 2;
  const group = await wsRing(worldSize);
  try {
    const buckets = planBuckets([64], 1 << 30);
    const grads = Array.from({ length: worldSize }, (_, r) => integerGradient(r, 64));
    // Rank 1 sends to rank 0; its third chunk goes out one byte short.
    const transports = group.transports.map((t, rank) => (rank === 1 ? corruptSend(t, 3) : t));
    const outcomes = await allReduceEverywhere(ringReducers(transports, buckets, 32), grads, 3);
    const received = outcomes[0]!.error;
    assert.ok(received instanceof BadFrameError, String(received));
    assert.equal(received.peerRank, 1);
    assert.equal(received.protocolError.code, 'PROTO_BAD_TENSOR');
    assert.equal(
      received.message,
      'Rank 1 sent a malformed frame during ring reduce-scatter recv in round 3 (PROTO_BAD_TENSOR): gradChunk payload must hold count × bytesPerElement = 8 × 4 = 32 bytes of float32, but holds 31',
    );
    const sender = outcomes[1]!.error;
    assert.ok(sender instanceof PeerLostError, String(sender));
    assert.equal(sender.peerRank, 0);
    assert.equal(sender.reason, 'closed by peer with 1002 PROTO_BAD_TENSOR');
  } finally {
    await group.close();
  }
});

test('star over WebSocket: a chunk whose header claims another rank is blamed on the connection it came on', async () => {
  const worldSize = 2;
  const group = await wsStar(worldSize);
  try {
    const buckets = planBuckets([8], 1 << 30);
    const hub = new StarHub({ transport: group.transports[worldSize]!, worldSize, buckets, chunkBytes: 32, timeoutMs: 5000 });
    const running = hub.reduceRound(1);
    const frame = new Uint8Array(chunkFrameBytes(8, 'float32'));
    const wait = { timeoutMs: 1000, operation: 'test send', round: 1 };
    for (const sender of [0, 1]) {
      // Both headers say rank 0: rank 1 pretends to be rank 0.
      const n = encodeChunkInto(
        frame,
        { type: 'gradChunk', round: 1, bucket: 0, chunk: 0, offset: 0, dtype: 'float32', rank: 0 },
        new Float32Array(8),
      );
      await group.transports[sender]!.send(worldSize, frame.subarray(0, n), wait);
    }
    await assert.rejects(running, (err: unknown) => {
      assert.ok(err instanceof BadFrameError, String(err));
      assert.equal(err.peerRank, 1);
      assert.equal(err.protocolError.code, 'PROTO_UNEXPECTED');
      assert.match(
        err.message,
        /^Rank 1 sent a malformed frame during star hub recv in round 1 \(PROTO_UNEXPECTED\): expected gradChunk \{.*from rank 1\}, but got gradChunk \{.*from rank 0\}$/,
      );
      return true;
    });
  } finally {
    await group.close();
  }
});
