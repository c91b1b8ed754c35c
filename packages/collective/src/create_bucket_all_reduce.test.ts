import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBucketAllReduce } from './create_bucket_all_reduce.js';
import { MemoryHub } from './memory_transport.js';
import { RingAllReduce } from './ring_all_reduce.js';
import { StarAllReduce } from './star_all_reduce.js';

test('createBucketAllReduce builds the algorithm welcome.allReduce names, with its chunk settings', () => {
  const hub = new MemoryHub(3);
  const ring = createBucketAllReduce({
    config: { algorithm: 'ring', chunkBytes: 1024, wireDtype: 'bfloat16' },
    transport: hub.endpoint(1),
    rank: 1,
    worldSize: 3,
    timeoutMs: 500,
  });
  assert.ok(ring instanceof RingAllReduce);
  assert.equal(ring.algorithm, 'ring');
  assert.deepEqual(
    { ...ring.settings },
    { chunkBytes: 1024, wireDtype: 'bfloat16', timeoutMs: 500, sendBuffers: 2, chunkElements: 512, maxFrameBytes: 1056 },
  );
  const star = createBucketAllReduce({
    config: { algorithm: 'star', chunkBytes: 64, wireDtype: 'float32' },
    transport: hub.endpoint(0),
    rank: 0,
    worldSize: 2,
  });
  assert.ok(star instanceof StarAllReduce);
  assert.equal(star.settings.chunkElements, 16);
  assert.equal(star.settings.timeoutMs, 120_000);
});
