// The training split's facts the run plan needs (run_plan.ts), read from the CIFAR-10 labels on
// this machine: the same stratified split every worker makes, so the digest sent in `welcome`
// lets a worker with other files refuse to start.
import { indicesDigest, readCifar10, stratifiedSplit } from '@gnet/data';
import { VAL_PER_CLASS } from '@gnet/recipe';
import type { SplitFacts } from './run_plan.js';

/**
 * The split of the CIFAR-10 set in `dataDir` for `seed`: training images (the first `trainLimit`
 * when positive), their indices' digest, and the validation and test images available.
 */
export async function readSplitFacts(dataDir: string, seed: number, trainLimit: number): Promise<SplitFacts> {
  const train = await readCifar10(dataDir, 'train');
  const test = await readCifar10(dataDir, 'test');
  const split = stratifiedSplit(train.labels, VAL_PER_CLASS, seed);
  const trainIdx = trainLimit > 0 ? split.train.subarray(0, trainLimit) : split.train;
  return {
    trainImages: trainIdx.length,
    trainIndicesDigest: indicesDigest(trainIdx),
    valAvailable: split.val.length,
    testAvailable: test.count,
  };
}
