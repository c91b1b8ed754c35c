import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeChunkInto, chunkFrameBytes } from '@gnet/protocol';
import { planBuckets } from './bucket_layout.js';
import { BadFrameError, CollectiveTimeoutError, CollectiveUsageError, PeerLostError, TransportClosedError } from './errors.js';
import { MemoryHub } from './memory_transport.js';
import { RingAllReduce } from './ring_all_reduce.js';
import { bitIdentical, integerGradient, maxAbsDiff, plainSum, randomGradient, ringOrderSum } from './testing/gradients.js';
import { allReduceEverywhere, corruptSend, dieAfter, ringGroup } from './testing/harness.js';

test('ring sums integer-valued gradients exactly for N = 1..4, any length (also < N), any chunk size', async () => {
  for (const worldSize of [1, 2, 3, 4]) {
    for (const length of [1, 2, 3, 5, 17, 1000]) {
      for (const chunkBytes of [4, 12, 4096]) {
        const buckets = planBuckets([length], 1 << 30);
        const grads = Array.from({ length: worldSize }, (_, r) => integerGradient(r, length));
        const expected = plainSum(grads);
        const { reducers } = ringGroup({ worldSize, buckets, chunkBytes });
        const outcomes = await allReduceEverywhere(reducers, grads, 1);
        outcomes.forEach((outcome, rank) => {
          assert.equal(
            outcome.error,
            null,
            `N=${worldSize} length=${length} chunkBytes=${chunkBytes} rank ${rank}: ${String(outcome.error)}`,
          );
          assert.equal(maxAbsDiff(outcome.data, expected), 0, `N=${worldSize} length=${length} chunkBytes=${chunkBytes} rank ${rank}`);
        });
      }
    }
  }
});

test('ring results on random floats are bit-identical on every rank and follow the documented order', async () => {
  for (const worldSize of [2, 3, 4]) {
    const sizes = [1000, 3, 2500, 7, 4096];
    const buckets = planBuckets(sizes, 8000);
    assert.ok(buckets.length >= 3);
    const length = sizes.reduce((a, b) => a + b, 0);
    const grads = Array.from({ length: worldSize }, (_, r) => randomGradient(42, r, length));
    const expected = ringOrderSum(grads, buckets);
    const { reducers } = ringGroup({ worldSize, buckets, chunkBytes: 256 });
    const outcomes = await allReduceEverywhere(reducers, grads, 3);
    for (const outcome of outcomes) {
      assert.equal(outcome.error, null);
      assert.ok(bitIdentical(outcome.data, outcomes[0]!.data), `N=${worldSize}: ranks differ`);
      assert.ok(bitIdentical(outcome.data, expected), `N=${worldSize}: not the documented summation order`);
    }
  }
});

test('ring with fp16 / bf16 on the wire stays within tolerance and bit-identical across ranks', async () => {
  for (const [wireDtype, relTol] of [
    ['float16', 4e-3],
    ['bfloat16', 3e-2],
  ] as const) {
    const worldSize = 4;
    const length = 5003;
    const buckets = planBuckets([2000, 3003], 8000);
    const grads = Array.from({ length: worldSize }, (_, r) => randomGradient(7, r, length));
    const exact = plainSum(grads);
    const { reducers } = ringGroup({ worldSize, buckets, chunkBytes: 512, wireDtype });
    const outcomes = await allReduceEverywhere(reducers, grads, 1);
    for (const outcome of outcomes) {
      assert.equal(outcome.error, null);
      assert.ok(bitIdentical(outcome.data, outcomes[0]!.data), `${wireDtype}: ranks differ`);
      // Each of the N - 1 hops and the final broadcast round to the wire dtype: a few ulps of |sum| ≤ 4.
      assert.ok(maxAbsDiff(outcome.data, exact) <= relTol * 4, `${wireDtype}: max error ${maxAbsDiff(outcome.data, exact)}`);
      assert.ok(maxAbsDiff(outcome.data, exact) > 0, `${wireDtype}: rounding should be visible`);
    }
  }
});

test('a peer dying mid-round makes every other rank fail promptly with PeerLostError', async () => {
  const worldSize = 4;
  const length = 200_000;
  const buckets = planBuckets([length], 1 << 30);
  const grads = Array.from({ length: worldSize }, (_, r) => integerGradient(r, length));
  // Rank 2 dies as it asks for its 30th chunk, well inside the reduce-scatter.
  const { reducers } = ringGroup({
    worldSize,
    buckets,
    chunkBytes: 4096,
    latencyMs: 1,
    timeoutMs: 30_000,
    wrap: (rank, transport, hub) => (rank === 2 ? dieAfter(transport, 'recv', 30, () => hub.kill(2)) : transport),
  });
  const started = performance.now();
  const all = await allReduceEverywhere(reducers, grads, 1);
  const ms = performance.now() - started;
  assert.ok(all[2]!.error instanceof TransportClosedError, String(all[2]!.error));
  const errors = [0, 1, 3].map((rank) => all[rank]!.error);
  errors.forEach((err, i) => assert.ok(err instanceof PeerLostError, `rank ${[0, 1, 3][i]}: ${String(err)}`));
  assert.ok(ms < 5000, `took ${ms} ms with a 30 s timeout`);
  // The neighbours name the dead rank; rank 0 hears of it through its neighbour closing.
  assert.equal((errors[0] as PeerLostError).reason, 'closed by peer (COLLECTIVE_PEER_LOST)');
  assert.equal((errors[1] as PeerLostError).peerRank, 2);
  assert.equal((errors[2] as PeerLostError).peerRank, 2);
});

test('a rank that never shows up makes the others fail within their timeout, never hang', async () => {
  const worldSize = 3;
  const buckets = planBuckets([1000], 1 << 30);
  const grads = Array.from({ length: worldSize }, (_, r) => integerGradient(r, 1000));
  const { reducers } = ringGroup({ worldSize, buckets, chunkBytes: 64, timeoutMs: 150 });
  const started = performance.now();
  const errors = await Promise.all(
    [0, 1].map((rank) =>
      reducers[rank]!.allReduce(grads[rank]!, { round: 9 }).then(
        () => null,
        (e: unknown) => e,
      ),
    ),
  );
  assert.ok(performance.now() - started < 2000);
  for (const err of errors) assert.ok(err instanceof CollectiveTimeoutError || err instanceof PeerLostError, String(err));
  const timeout = errors.find((e) => e instanceof CollectiveTimeoutError);
  assert.ok(timeout instanceof CollectiveTimeoutError);
  assert.equal(timeout.peerRank, 2);
  assert.equal(timeout.round, 9);
  assert.equal(timeout.operation, 'ring reduce-scatter recv');
});

/** A 2-rank ring where the test plays rank 1 by hand. */
function loneRing(): { hub: MemoryHub; ring: RingAllReduce } {
  const hub = new MemoryHub(2);
  return { hub, ring: new RingAllReduce({ transport: hub.endpoint(0), rank: 0, worldSize: 2, chunkBytes: 16, timeoutMs: 2000 }) };
}

test('a garbage frame fails the round with BadFrameError naming its sender and closes the ring with the protocol code', async () => {
  const { hub, ring } = loneRing();
  const bucket = { bucket: 0, offset: 0, length: 8 };
  const running = ring.reduceBucket(new Float32Array(8), bucket, { round: 1 });
  await hub
    .endpoint(1)
    .send(0, new TextEncoder().encode('not a chunk frame: forty bytes long.....'), { timeoutMs: 100, operation: 'x', round: 1 });
  await assert.rejects(running, (err: unknown) => {
    assert.ok(err instanceof BadFrameError);
    assert.equal(err.code, 'COLLECTIVE_BAD_FRAME');
    assert.equal(err.peerRank, 1);
    assert.equal(err.protocolError.code, 'PROTO_BAD_CHUNK');
    assert.equal(err.protocolError.closeCode, 1002);
    assert.equal(
      err.message,
      'Rank 1 sent a malformed frame during ring reduce-scatter recv in round 1 (PROTO_BAD_CHUNK): Chunk frame must start with magic 47 4e 43 4b ("GNCK"), but got 6e 6f 74 20',
    );
    return true;
  });
  // Rank 0's own first chunk was already on its way; after it, the close.
  const peer = hub.endpoint(1);
  const wait = { timeoutMs: 1000, operation: 'peer', round: 1 };
  await peer.recv(0, wait);
  await assert.rejects(peer.recv(0, wait), {
    name: 'PeerLostError',
    message: 'Lost peer rank 0 during peer in round 1: closed by peer (PROTO_BAD_CHUNK)',
  });
});

test('a chunk of the wrong bucket fails with BadFrameError (PROTO_UNEXPECTED) naming the sender, expected and got; stale rounds are dropped', async () => {
  const { hub, ring } = loneRing();
  const bucket = { bucket: 0, offset: 0, length: 8 };
  const frame = new Uint8Array(chunkFrameBytes(4, 'float32'));
  const peer = hub.endpoint(1);
  const wait = { timeoutMs: 100, operation: 'x', round: 5 };
  // A late frame of round 4 first: dropped, not an error.
  let n = encodeChunkInto(
    frame,
    { type: 'gradChunk', round: 4, bucket: 0, chunk: 0, offset: 4, dtype: 'float32', rank: 1 },
    new Float32Array(4),
  );
  await peer.send(0, frame.subarray(0, n), wait);
  n = encodeChunkInto(
    frame,
    { type: 'gradChunk', round: 5, bucket: 3, chunk: 0, offset: 0, dtype: 'float32', rank: 1 },
    new Float32Array(4),
  );
  const running = ring.reduceBucket(new Float32Array(8), bucket, { round: 5 });
  await peer.send(0, frame.subarray(0, n), wait);
  await assert.rejects(running, (err: unknown) => {
    assert.ok(err instanceof BadFrameError);
    assert.equal(err.code, 'COLLECTIVE_BAD_FRAME');
    assert.equal(err.peerRank, 1);
    assert.equal(err.protocolError.code, 'PROTO_UNEXPECTED');
    assert.equal(
      err.message,
      'Rank 1 sent a malformed frame during ring reduce-scatter recv of bucket 0 in round 5 (PROTO_UNEXPECTED): ' +
        'expected gradChunk {round 5, bucket 0, chunk 0, offset 4, count 4, float32, from rank 1}, ' +
        'but got gradChunk {round 5, bucket 3, chunk 0, offset 0, count 4, float32, from rank 1}',
    );
    return true;
  });
  assert.equal(ring.stats.staleChunksDropped, 1);
});

test('a malformed chunk in a ring of 3 is blamed on its sender, not on the rank that received it', async () => {
  const worldSize = 3;
  const buckets = planBuckets([24], 1 << 30);
  const grads = Array.from({ length: worldSize }, (_, r) => integerGradient(r, 24));
  // Rank 2 sends to rank 1 (ringNeighbours: next = rank - 1); its first chunk goes out one byte short.
  const { reducers } = ringGroup({ worldSize, buckets, chunkBytes: 16, wrap: (rank, t) => (rank === 2 ? corruptSend(t, 1) : t) });
  const outcomes = await allReduceEverywhere(reducers, grads, 4);
  const received = outcomes[1]!.error;
  assert.ok(received instanceof BadFrameError, String(received));
  assert.equal(received.peerRank, 2);
  assert.equal(received.round, 4);
  assert.equal(received.protocolError.code, 'PROTO_BAD_TENSOR');
  assert.equal(
    received.message,
    'Rank 2 sent a malformed frame during ring reduce-scatter recv in round 4 (PROTO_BAD_TENSOR): gradChunk payload must hold count × bytesPerElement = 4 × 4 = 16 bytes of float32, but holds 15',
  );
  // The others see the ring break around them; nobody else is blamed.
  for (const rank of [0, 2]) assert.ok(outcomes[rank]!.error instanceof PeerLostError, `rank ${rank}: ${String(outcomes[rank]!.error)}`);
});

test('ring refuses bad settings and a buffer of the wrong length', async () => {
  const hub = new MemoryHub(2);
  assert.throws(() => new RingAllReduce({ transport: hub.endpoint(0), rank: 0, worldSize: 2, chunkBytes: 6 }), {
    name: 'CollectiveConfigError',
    code: 'COLLECTIVE_CONFIG',
    message: 'RingAllReduce `chunkBytes` must be a positive multiple of 4, but got 6',
  });
  assert.throws(() => new RingAllReduce({ transport: hub.endpoint(0), rank: 2, worldSize: 2 }), {
    message: 'RingAllReduce `rank` must be an integer in [0, 2), but got 2',
  });
  const ring = new RingAllReduce({ transport: hub.endpoint(0), rank: 0, worldSize: 2, chunkBytes: 16 });
  await assert.rejects(ring.reduceBucket(new Float32Array(3), { bucket: 1, offset: 0, length: 4 }, { round: 1 }), (err: unknown) => {
    assert.ok(err instanceof CollectiveUsageError);
    assert.equal(err.message, "RingAllReduce.reduceBucket `data` must have bucket 1's length (4) elements, but has 3");
    return true;
  });
});
