import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkBucketLayout, layoutElements, planBuckets } from './bucket_layout.js';
import { CollectiveConfigError } from './errors.js';

test('planBuckets packs whole parameters greedily up to bucketBytes', () => {
  assert.deepEqual(planBuckets([100, 200, 50, 1000], 1200), [
    { bucket: 0, offset: 0, length: 300 },
    { bucket: 1, offset: 300, length: 50 },
    { bucket: 2, offset: 350, length: 1000 },
  ]);
  // Everything fits in one bucket.
  assert.deepEqual(planBuckets([3, 4, 5], 1 << 20), [{ bucket: 0, offset: 0, length: 12 }]);
  // One parameter per bucket when each is as large as the cap.
  assert.deepEqual(planBuckets([2, 2, 2], 8), [
    { bucket: 0, offset: 0, length: 2 },
    { bucket: 1, offset: 2, length: 2 },
    { bucket: 2, offset: 4, length: 2 },
  ]);
});

test('planBuckets is deterministic, contiguous and covers every element', () => {
  const sizes = Array.from({ length: 60 }, (_, i) => ((i * 7919) % 5000) + 1);
  const a = planBuckets(sizes, 16_000);
  assert.deepEqual(a, planBuckets([...sizes], 16_000));
  checkBucketLayout(
    a,
    sizes.reduce((x, y) => x + y, 0),
  );
  for (const b of a) assert.ok(b.length * 4 <= 16_000 || sizes.includes(b.length), `bucket ${b.bucket} exceeds the cap`);
  assert.equal(
    layoutElements(a),
    sizes.reduce((x, y) => x + y, 0),
  );
});

test('planBuckets rejects bad arguments with CollectiveConfigError', () => {
  assert.throws(
    () => planBuckets([1, 0, 3], 64),
    (err: unknown) => {
      assert.ok(err instanceof CollectiveConfigError);
      assert.equal(err.code, 'COLLECTIVE_CONFIG');
      assert.equal(err.message, 'planBuckets `paramSizes[1]` must be a positive integer, but got 0');
      return true;
    },
  );
  assert.throws(() => planBuckets([1], 3), {
    name: 'CollectiveConfigError',
    message: 'planBuckets `bucketBytes` must be an integer >= 4, but got 3',
  });
  assert.throws(() => planBuckets([], 64), {
    name: 'CollectiveConfigError',
    message: 'planBuckets `paramSizes` must list at least one parameter, but is empty',
  });
});

test('checkBucketLayout names the first broken bucket', () => {
  assert.throws(() => checkBucketLayout([]), {
    code: 'COLLECTIVE_CONFIG',
    message: 'Bucket layout must have at least one bucket, but is empty',
  });
  assert.throws(
    () =>
      checkBucketLayout([
        { bucket: 0, offset: 0, length: 4 },
        { bucket: 1, offset: 5, length: 4 },
      ]),
    { code: 'COLLECTIVE_CONFIG', message: 'buckets[1].offset must be 4 (buckets are contiguous), but got 5' },
  );
  assert.throws(() => checkBucketLayout([{ bucket: 1, offset: 0, length: 4 }]), { message: 'buckets[0].bucket must be 0, but got 1' });
  assert.throws(() => checkBucketLayout([{ bucket: 0, offset: 0, length: 4 }], 5), {
    message: 'Bucket layout must cover the 5 gradient elements, but covers 4',
  });
});
