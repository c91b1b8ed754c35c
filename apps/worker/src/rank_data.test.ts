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
const hyper = { batchSizePerWorker: 8, seed: 7, augmentation: { cropPaddingPx: 4, flip: true, cutoutPx: 0 } };

test.before(async () => {
  [train, testSet] = await Promise.all([readCifar10(DIR, 'train'), readCifar10(DIR, 'test')]);
});

test('two ranks together train on each of the run images exactly once per epoch', () => {
  const datasetSize = 64;
  const trainIdx = stratifiedSplit(train.labels, 500, hyper.seed).train.subarray(0, datasetSize);
  const shard = { datasetSize, trainIndicesDigest: indicesDigest(trainIdx), seed: hyper.seed };
  const ranks = [0, 1].map((rank) => new RankData({ train, test: testSet, shard, hyper, rank, worldSize: 2 }));
  for (const epoch of [0, 1]) {
    const seen: number[] = [];
    for (const data of ranks) {
      assert.equal(data.stepsPerEpoch, 4);
      for (let step = 0; step < data.stepsPerEpoch; step += 1) seen.push(...data.batchIndices(epoch, step, new Int32Array(8)));
    }
    assert.deepEqual([...seen].sort((a, b) => a - b), [...trainIdx].sort((a, b) => a - b));
  }
  // Batches differ between epochs (one permutation per epoch) and augmentation differs between ranks.
  assert.notDeepEqual(ranks[0]!.batchIndices(0, 0, new Int32Array(8)), ranks[0]!.batchIndices(1, 0, new Int32Array(8)));
  const batch = { images: new Float32Array(8 * 3072), labels: new Int32Array(8), count: 8 };
  const idx = new Int32Array(8);
  ranks[0]!.fillBatch(0, 0, batch, idx);
  assert.deepEqual(Array.from(batch.labels), Array.from(idx, (i) => train.labels[i]!));
});

test('evaluation shards read the validation and test splits, unaugmented', () => {
  const trainIdx = stratifiedSplit(train.labels, 500, hyper.seed).train.subarray(0, 16);
  const data = new RankData({ train, test: testSet, shard: { datasetSize: 16, trainIndicesDigest: indicesDigest(trainIdx), seed: 7 }, hyper, rank: 0, worldSize: 1 });
  const val = data.evalImages('val', 10, 14);
  assert.equal(val.count, 4);
  assert.deepEqual(Array.from(val.labels), Array.from(data.valIndices.subarray(10, 14), (i) => train.labels[i]!));
  assert.deepEqual(Array.from(data.evalImages('test', 0, 3).labels), Array.from(testSet.labels.subarray(0, 3)));
  assert.throws(() => data.evalImages('val', 4990, 5001), { name: 'RangeError', message: "evaluation shard [4990, 5001) of 'val' must lie within its 5000 images" });
});

test('another split on disk is refused, showing both digests', () => {
  assert.throws(
    () => new RankData({ train, test: testSet, shard: { datasetSize: 16, trainIndicesDigest: 'f'.repeat(64), seed: 7 }, hyper, rank: 0, worldSize: 1 }),
    (e: unknown) => e instanceof ShardMismatchError && e.code === 'WORKER_SHARD_MISMATCH' && /differs from the coordinator's \(ffffffffffff…\)/.test(e.message),
  );
});
