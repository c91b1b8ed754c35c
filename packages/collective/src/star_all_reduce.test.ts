import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chunkFrameBytes, encodeChunkInto } from '@gnet/protocol';
import { planBuckets } from './bucket_layout.js';
import { BadFrameError, PeerLostError, RoundAbortedError } from './errors.js';
import { MemoryHub } from './memory_transport.js';
import { StarAllReduce } from './star_all_reduce.js';
import { StarHub } from './star_hub.js';
import { bitIdentical, integerGradient, maxAbsDiff, plainSum, randomGradient } from './testing/gradients.js';
import { allReduceEverywhere, corruptSend, dieAfter, starGroup } from './testing/harness.js';

test('star sums integer-valued gradients exactly for N = 1..4, any length, any chunk size', async () => {
  for (const worldSize of [1, 2, 3, 4]) {
    for (const length of [1, 3, 17, 1000]) {
      for (const chunkBytes of [4, 12, 4096]) {
        const buckets = planBuckets([length], 1 << 30);
        const grads = Array.from({ length: worldSize }, (_, r) => integerGradient(r, length));
        const expected = plainSum(grads);
        const { reducers, starHub } = starGroup({ worldSize, buckets, chunkBytes });
        const [outcomes] = await Promise.all([allReduceEverywhere(reducers, grads, 1), starHub.reduceRound(1)]);
        outcomes.forEach((outcome, rank) => {
          assert.equal(
            outcome.error,
            null,
            `N=${worldSize} length=${length} chunkBytes=${chunkBytes} rank ${rank}: ${String(outcome.error)}`,
          );
          assert.equal(maxAbsDiff(outcome.data, expected), 0);
        });
      }
    }
  }
});

test('star sums random floats in rank order, bit-identical on every rank, over several buckets and rounds', async () => {
  const worldSize = 3;
  const buckets = planBuckets([700, 5, 1300, 2000], 4000);
  const { reducers, starHub } = starGroup({ worldSize, buckets, chunkBytes: 400 });
  for (const round of [1, 2]) {
    const grads = Array.from({ length: worldSize }, (_, r) => randomGradient(round, r, 4005));
    const expected = plainSum(grads); // rank order, float32
    const [outcomes] = await Promise.all([allReduceEverywhere(reducers, grads, round), starHub.reduceRound(round)]);
    for (const outcome of outcomes) {
      assert.equal(outcome.error, null);
      assert.ok(bitIdentical(outcome.data, expected), `round ${round}: not the rank-order float32 sum`);
    }
  }
});

test('star with fp16 on the wire stays within tolerance and bit-identical across ranks', async () => {
  const worldSize = 4;
  const buckets = planBuckets([3000], 1 << 20);
  const grads = Array.from({ length: worldSize }, (_, r) => randomGradient(11, r, 3000));
  const exact = plainSum(grads);
  const { reducers, starHub } = starGroup({ worldSize, buckets, chunkBytes: 256, wireDtype: 'float16' });
  const [outcomes] = await Promise.all([allReduceEverywhere(reducers, grads, 1), starHub.reduceRound(1)]);
  for (const outcome of outcomes) {
    assert.equal(outcome.error, null);
    assert.ok(bitIdentical(outcome.data, outcomes[0]!.data));
    assert.ok(maxAbsDiff(outcome.data, exact) <= 4e-3 * 4, `max error ${maxAbsDiff(outcome.data, exact)}`);
  }
});

test('a worker dying mid-round fails the hub with PeerLostError; aborting the round frees the others at once', async () => {
  const worldSize = 3;
  const length = 100_000;
  const buckets = planBuckets([length], 1 << 30);
  const grads = Array.from({ length: worldSize }, (_, r) => integerGradient(r, length));
  // Worker 1 dies as it sends its 5th chunk.
  const { reducers, starHub } = starGroup({
    worldSize,
    buckets,
    chunkBytes: 4096,
    latencyMs: 1,
    timeoutMs: 30_000,
    wrap: (rank, transport, hub) => (rank === 1 ? dieAfter(transport, 'send', 5, () => hub.kill(1)) : transport),
  });
  const started = performance.now();
  const workers = [0, 2].map((rank) =>
    reducers[rank]!.allReduce(grads[rank]!, { round: 4 }).then(
      () => null,
      (e: unknown) => e,
    ),
  );
  void reducers[1]!.allReduce(grads[1]!, { round: 4 }).catch(() => undefined);
  const hubResult = starHub.reduceRound(4).then(
    () => null,
    (e: unknown) => e,
  );
  const hubError = await hubResult;
  assert.ok(hubError instanceof PeerLostError, String(hubError));
  assert.equal(hubError.peerRank, 1);
  assert.equal(hubError.operation, 'star hub recv');
  // What the coordinator does on a failed round: roundAbort to every worker.
  for (const rank of [0, 2]) reducers[rank]!.abort('rank 1 lost');
  const errors = await Promise.all(workers);
  for (const err of errors) {
    assert.ok(err instanceof RoundAbortedError, String(err));
    assert.equal(err.message, 'Round 4 was aborted: rank 1 lost');
  }
  assert.ok(performance.now() - started < 5000);
});

test('the hub refuses chunks that disagree across ranks or fall outside the layout, blaming the rank that sent them', async () => {
  const buckets = planBuckets([8], 1 << 20);
  const hub = new MemoryHub(3);
  const starHub = new StarHub({ transport: hub.endpoint(2), worldSize: 2, buckets, chunkBytes: 32, timeoutMs: 2000 });
  const frame = new Uint8Array(chunkFrameBytes(8, 'float32'));
  const wait = { timeoutMs: 100, operation: 'x', round: 1 };
  const running = starHub.reduceRound(1);
  let n = encodeChunkInto(
    frame,
    { type: 'gradChunk', round: 1, bucket: 0, chunk: 0, offset: 0, dtype: 'float32', rank: 0 },
    new Float32Array(8),
  );
  await hub.endpoint(0).send(2, frame.subarray(0, n), wait);
  n = encodeChunkInto(
    frame,
    { type: 'gradChunk', round: 1, bucket: 0, chunk: 0, offset: 0, dtype: 'float16', rank: 1 },
    new Float32Array(8),
  );
  await hub.endpoint(1).send(2, frame.subarray(0, n), wait);
  await assert.rejects(running, (err: unknown) => {
    assert.ok(err instanceof BadFrameError);
    assert.equal(err.peerRank, 1);
    assert.equal(err.protocolError.code, 'PROTO_UNEXPECTED');
    assert.equal(
      err.message,
      'Rank 1 sent a malformed frame during star hub recv in round 1 (PROTO_UNEXPECTED): ' +
        'expected gradChunk {round 1, bucket 0, chunk 0, offset 0, count 8, float32, from rank 1}, ' +
        'but got gradChunk {round 1, bucket 0, chunk 0, offset 0, count 8, float16, from rank 1}',
    );
    return true;
  });
  const again = starHub.reduceRound(2);
  n = encodeChunkInto(
    frame,
    { type: 'gradChunk', round: 2, bucket: 5, chunk: 0, offset: 0, dtype: 'float32', rank: 0 },
    new Float32Array(8),
  );
  await hub.endpoint(0).send(2, frame.subarray(0, n), { ...wait, round: 2 });
  await hub.endpoint(1).send(2, frame.subarray(0, n), { ...wait, round: 2 });
  await assert.rejects(again, {
    name: 'BadFrameError',
    code: 'COLLECTIVE_BAD_FRAME',
    peerRank: 0,
    message:
      'Rank 0 sent a malformed frame during star hub recv in round 2 (PROTO_UNEXPECTED): got gradChunk of bucket 5, but the layout has 1 buckets',
  });
});

test('a malformed gradChunk fails the hub with BadFrameError naming the rank it came from', async () => {
  const worldSize = 3;
  const buckets = planBuckets([24], 1 << 30);
  const grads = Array.from({ length: worldSize }, (_, r) => integerGradient(r, 24));
  // Rank 1's second chunk goes out one byte short (the ws test below: a header naming another rank changes nothing).
  const { reducers, starHub } = starGroup({ worldSize, buckets, chunkBytes: 32, wrap: (rank, t) => (rank === 1 ? corruptSend(t, 2) : t) });
  const hubRound = starHub.reduceRound(6);
  const workers = allReduceEverywhere(reducers, grads, 6);
  await assert.rejects(hubRound, (err: unknown) => {
    assert.ok(err instanceof BadFrameError, String(err));
    assert.equal(err.code, 'COLLECTIVE_BAD_FRAME');
    assert.equal(err.peerRank, 1);
    assert.equal(err.round, 6);
    assert.equal(err.operation, 'star hub recv');
    assert.equal(err.protocolError.code, 'PROTO_BAD_TENSOR');
    assert.equal(err.protocolError.closeCode, 1002);
    assert.equal(
      err.message,
      'Rank 1 sent a malformed frame during star hub recv in round 6 (PROTO_BAD_TENSOR): gradChunk payload must hold count × bytesPerElement = 8 × 4 = 32 bytes of float32, but holds 31',
    );
    return true;
  });
  // The coordinator aborts the round on the workers (`roundAbort`).
  reducers.forEach((r) => r.abort('rank 1 sent a malformed frame'));
  for (const outcome of await workers) assert.ok(outcome.error instanceof RoundAbortedError, String(outcome.error));
});

test('StarAllReduce and StarHub refuse bad settings', () => {
  const hub = new MemoryHub(2);
  assert.throws(() => new StarAllReduce({ transport: hub.endpoint(0), rank: 0, worldSize: 1, wireDtype: 'int8' as never }), {
    name: 'CollectiveConfigError',
    message: "StarAllReduce `wireDtype` must be float32, float16 or bfloat16, but got 'int8'",
  });
  assert.throws(() => new StarHub({ transport: hub.endpoint(1), worldSize: 1, buckets: [], timeoutMs: 0 }), {
    name: 'CollectiveConfigError',
    message: 'Bucket layout must have at least one bucket, but is empty',
  });
  assert.throws(() => new StarHub({ transport: hub.endpoint(1), worldSize: 1, buckets: planBuckets([4], 16), timeoutMs: 0 }), {
    message: 'StarHub `timeoutMs` must be a positive finite number, but got 0',
  });
});
