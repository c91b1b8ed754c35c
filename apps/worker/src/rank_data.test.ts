// Real CIFAR-10 (read-only, from shared/ or $CIFAR10_DIR): the shards of two ranks cover the
// run's training images exactly once per epoch, and a worker with another split refuses to start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { indicesDigest, readCifar10, stratifiedSplit, type CifarSet } from '@gnet/data';
import { RankData, ShardMismatchError } from './rank_data.js';

const DIR = process.env['CIFAR10_DIR'] || fileURLToPath(new URL('../../../../shared/data/cifar-10-batches-bin', import.meta.url));
let train: CifarSet;
let testSet: CifarSet;
const hyper = { globalBatch: 16, seed: 7, augmentation: { cropPaddingPx: 4, flip: true, cutoutPx: 0 } };

test.before(async () => {
  [train, testSet] = await Promise.all([readCifar10(DIR, 'train'), readCifar10(DIR, 'test')]);
});

test('two ranks together train on each of the run images exactly once per epoch', () => {
  const datasetSize = 64;
  const trainIdx = stratifiedSplit(train.labels, 500, hyper.seed).train.subarray(0, datasetSize);
  const shard = { datasetSize, trainIndicesDigest: indicesDigest(trainIdx), seed: hyper.seed };
  const data = new RankData({ train, test: testSet, shard, hyper });
  assert.equal(data.stepsPerEpoch, 4);
  for (const epoch of [0, 1]) {
    const seen: number[] = [];
    for (let step = 0; step < data.stepsPerEpoch; step += 1)
      for (const rank of [0, 1]) seen.push(...data.batchIndices(epoch, step, rank, 2, new Int32Array(16)));
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      [...trainIdx].sort((a, b) => a - b),
    );
  }
  // Batches differ between epochs (one permutation per epoch).
  assert.notDeepEqual(data.batchIndices(0, 0, 0, 2, new Int32Array(16)), data.batchIndices(1, 0, 0, 2, new Int32Array(16)));
  // Three ranks take slices of 5, 5 and 6 of the same global batch; one rank takes all 16.
  const whole = [...data.batchIndices(0, 1, 0, 1, new Int32Array(16))];
  const thirds = [0, 1, 2].map((r) => [...data.batchIndices(0, 1, r, 3, new Int32Array(16))]);
  assert.deepEqual(
    thirds.map((t) => t.length),
    [5, 5, 6],
  );
  assert.deepEqual(thirds.flat(), whole);
  const batch = { images: new Float32Array(16 * 3072), labels: new Int32Array(16), count: 0 };
  const idx = data.fillBatch(0, 0, 1, 3, batch, new Int32Array(16));
  assert.equal(batch.count, 5);
  assert.deepEqual(
    Array.from(batch.labels.subarray(0, 5)),
    Array.from(idx, (i) => train.labels[i]!),
  );
});

test('evaluation shards read the validation and test splits, unaugmented', () => {
  const trainIdx = stratifiedSplit(train.labels, 500, hyper.seed).train.subarray(0, 16);
  const data = new RankData({
    train,
    test: testSet,
    shard: { datasetSize: 16, trainIndicesDigest: indicesDigest(trainIdx), seed: 7 },
    hyper,
  });
  const val = data.evalImages('val', 10, 14);
  assert.equal(val.count, 4);
  assert.deepEqual(
    Array.from(val.labels),
    Array.from(data.valIndices.subarray(10, 14), (i) => train.labels[i]!),
  );
  assert.deepEqual(Array.from(data.evalImages('test', 0, 3).labels), Array.from(testSet.labels.subarray(0, 3)));
  assert.throws(() => data.evalImages('val', 4990, 5001), {
    name: 'RangeError',
    message: "evaluation shard [4990, 5001) of 'val' must lie within its 5000 images",
  });
});

test('another split on disk is refused, showing both digests', () => {
  assert.throws(
    () => new RankData({ train, test: testSet, shard: { datasetSize: 16, trainIndicesDigest: 'f'.repeat(64), seed: 7 }, hyper }),
    (e: unknown) =>
      e instanceof ShardMismatchError &&
      e.code === 'WORKER_SHARD_MISMATCH' &&
      /differs from the coordinator's \(ffffffffffff…\)/.test(e.message),
  );
});
