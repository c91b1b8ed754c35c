// Everything the coordinator decides once the group is known, before the first `welcome`: the
// hyperparameters every worker receives, the model, the shard plan, the gradient bucket layout,
// the all-reduce settings, the learning-rate schedule and the evaluation sizes. Pure: no I/O, so
// it is unit-tested on its own and printed by `--print-plan`.
import type { AllReduceConfig, Bucket, ShardPlan } from '@gnet/protocol';
import { planBuckets } from '@gnet/collective';
import { hyperParamsOf, modelConfigOf, type HyperParams, type ModelConfig } from '@gnet/recipe';
import type { LrSchedule } from '@gnet/run-store';
import { ConfigError, type CoordinatorConfig } from './coordinator_config.js';
import { modelSize } from './model_size.js';

/**
 * Images × width one wasm forward/backward pass of GoogLeNet holds in its 4 GB heap: a mirror of
 * @gnet/training's WASM_IMAGE_WIDTH_BUDGET (the coordinator may not import training, which loads
 * tfjs); each worker refuses a micro-batch above its own backend's limit, so drift fails loudly.
 */
const WASM_IMAGE_WIDTH_BUDGET = 16;

/** The run as planned for a group of `worldSize` workers. */
export interface RunPlan {
  worldSize: number;
  hyper: HyperParams;
  model: ModelConfig;
  shard: ShardPlan;
  /** Gradient buckets over the flat parameter vector (sent in `welcome`). */
  buckets: Bucket[];
  allReduce: AllReduceConfig;
  /** Elements of the flat parameter vector. */
  paramElements: number;
  /** Elements of the BatchNorm running statistics (averaged across workers before evaluation). */
  bufferElements: number;
  /** Global batch: images per optimizer step over the whole group (fixed for the run). */
  globalBatch: number;
  stepsPerEpoch: number;
  schedule: LrSchedule;
  /** Images of the validation and test splits that are evaluated. */
  valImages: number;
  testImages: number;
}

/** What the data on the coordinator's disk says about the training split. */
export interface SplitFacts {
  /** Images of the training split used (after `--train-limit`). */
  trainImages: number;
  /** `indicesDigest` of those indices. */
  trainIndicesDigest: string;
  /** Images of the validation split (5,000) and the test split (10,000) on disk. */
  valAvailable: number;
  testAvailable: number;
}

/**
 * The micro-batch the workers use: `requested`, capped by the largest slice a rank can get
 * (`ceil(globalBatch / worldSize)`) and, when any worker runs on wasm, by what its heap holds at
 * this width. A rank's slice is cut into passes of this size, the last one possibly smaller.
 */
export function chooseMicroBatch(requested: number, largestSlice: number, backends: readonly string[], width: number): number {
  let cap = Math.min(requested, largestSlice);
  if (backends.includes('wasm')) cap = Math.min(cap, Math.max(1, Math.floor(WASM_IMAGE_WIDTH_BUDGET / width)));
  return Math.max(1, cap);
}

/**
 * Equal contiguous buckets of at most `bucketBytes` over a flat vector of `elements` floats. They
 * need not follow parameter boundaries here: tfjs hands over every gradient at once at the end of
 * the backward pass, so no bucket could start before the last parameter's gradient anyway.
 */
export function planGradientBuckets(elements: number, bucketBytes: number): Bucket[] {
  const per = Math.max(1, Math.floor(bucketBytes / 4));
  const pieces: number[] = [];
  for (let left = elements; left > 0; left -= per) pieces.push(Math.min(per, left));
  return planBuckets(pieces, bucketBytes);
}

/**
 * Plans the run for a group of `backends.length` workers. Everything but the micro-batch and the
 * world size is the same for every group of the run, so a re-formed group continues the same
 * schedule. Throws `ConfigError` when the settings cannot work for this group.
 */
export function planRun(cfg: CoordinatorConfig, backends: readonly string[], split: SplitFacts): RunPlan {
  const worldSize = backends.length;
  if (cfg.batchSize < worldSize) {
    throw new ConfigError(
      `--batch-size (${cfg.batchSize}) must be at least the world size (${worldSize}) so every worker gets an image of each global batch`,
    );
  }
  const stepsPerEpoch = Math.floor(split.trainImages / cfg.batchSize);
  if (stepsPerEpoch < 1) {
    throw new ConfigError(
      `--batch-size (${cfg.batchSize}) must not exceed the training images (${split.trainImages}); lower it or raise --train-limit`,
    );
  }
  const model = modelConfigOf(cfg);
  const size = modelSize(model);
  const hyper = hyperParamsOf(cfg, chooseMicroBatch(cfg.microBatch, Math.ceil(cfg.batchSize / worldSize), backends, cfg.width));
  return {
    worldSize,
    hyper,
    model,
    shard: { datasetSize: split.trainImages, trainIndicesDigest: split.trainIndicesDigest, seed: cfg.seed },
    buckets: planGradientBuckets(size.params, cfg.bucketBytes),
    allReduce: { algorithm: cfg.algorithm, chunkBytes: cfg.chunkBytes, wireDtype: cfg.wireDtype },
    paramElements: size.params,
    bufferElements: size.buffers,
    globalBatch: cfg.batchSize,
    stepsPerEpoch,
    schedule: {
      lrPeak: cfg.lrPeak,
      warmupSteps: Math.round(cfg.warmupEpochs * stepsPerEpoch),
      totalSteps: cfg.epochs * stepsPerEpoch,
    },
    valImages: cfg.evalLimit > 0 ? Math.min(cfg.evalLimit, split.valAvailable) : split.valAvailable,
    testImages: cfg.evalLimit > 0 ? Math.min(cfg.evalLimit, split.testAvailable) : split.testAvailable,
  };
}
