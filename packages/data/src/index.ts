// Public API of @gnet/data: CIFAR-10 reading, fetching and verifying, splits, sharding, augmentation.
// Plain typed arrays only; no tensors (lint forbids tfjs here).

export { CIFAR10_CLASSES, CIFAR10_IMAGE_BYTES, CIFAR10_PLANE_BYTES, CIFAR10_RECORDS_PER_FILE, CIFAR10_SIDE } from './cifar10_layout.js';
export { readCifar10, type CifarSet } from './cifar10_reader.js';
export { defaultCacheDir, ensureCifar10 } from './cifar10_fetch.js';
export { stratifiedSplit } from './split.js';
export { deriveSeed, Rng } from './rng.js';
export { DistributedSampler } from './distributed_sampler.js';
export { GlobalBatchSampler, rankSlice } from './global_batch_sampler.js';
export { evalShard } from './eval_shard.js';
export { indicesDigest } from './indices_digest.js';
export { BATCH_IMAGE_FLOATS, CIFAR10_MEAN, CIFAR10_STD, labelsOf, makeBatch, type AugmentOptions } from './augment.js';
export { resolveUserPath, userDirectory, workspaceRoot } from './user_path.js';
