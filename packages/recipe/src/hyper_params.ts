// Hyperparameters and model configuration, owned by the coordinator and sent to every worker in
// `welcome`, so two workers can never train with different settings (horovod and DDP broadcast
// from rank 0 for the same reason). The one `HyperParams` of the project: worker:train uses it too.
// These are wire schemas (re-exported by @gnet/protocol, pinned by its golden fixtures): renaming
// or adding a field changes the bytes of `welcome`.
import { z } from 'zod';

/** Uint32 seed: every random stream (init, shuffling, augmentation) is derived from it. */
export const SeedSchema = z.int().min(0).max(0xffffffff);

/** Training-time data augmentation, applied per sample by each worker to its own shard. */
export const AugmentationSchema = z.strictObject({
  /** Zero-padding in pixels before a random 32x32 crop; 0 turns cropping off (4 is the usual CIFAR value). */
  cropPaddingPx: z.int().min(0).max(16),
  /** Random horizontal flip with probability 1/2. */
  flip: z.boolean(),
  /** Side in pixels of the square Cutout mask (DeVries & Taylor 2017); 0 turns it off. */
  cutoutPx: z.int().min(0).max(32),
});
/** Training-time data augmentation. */
export type Augmentation = z.infer<typeof AugmentationSchema>;

/**
 * Optimisation hyperparameters. The global batch is fixed for the whole run, whatever the
 * membership: each step takes the next `globalBatch` samples of the epoch's permutation and rank r
 * of W takes the slice [floor(r·B/W), floor((r+1)·B/W)), so a group re-formed mid-epoch with
 * fewer or more workers trains on exactly the same samples with the same learning rate. The
 * learning-rate schedule lives on the coordinator, which sends each step's `lr` in `roundStart`.
 */
export const HyperParamsSchema = z.strictObject({
  /** Passes over the training split. */
  epochs: z.int().min(1),
  /** Samples per optimizer step over all workers together; at least the world size. */
  globalBatch: z.int().min(1),
  /**
   * Samples per forward/backward pass; a rank's slice is cut into passes of this size (the last may be smaller) whose gradients are summed.
   */
  microBatch: z.int().min(1),
  /** Learning rate at the end of warm-up (for the global batch). */
  lrPeak: z.number().positive(),
  /** Linear warm-up length in epochs (may be fractional); 0 for none. */
  warmupEpochs: z.number().min(0),
  /** SGD momentum coefficient. */
  momentum: z.number().min(0).lt(1),
  /** Nesterov momentum instead of heavy-ball. */
  nesterov: z.boolean(),
  /** L2 weight decay coefficient. */
  weightDecay: z.number().min(0),
  /** Label smoothing epsilon for the cross-entropy; 0 for none. */
  labelSmoothing: z.number().min(0).lt(1),
  /** Weight of each auxiliary head's loss (GoogLeNet used 0.3); must be 0 when the model has no aux heads. */
  auxWeight: z.number().min(0),
  /** Run seed. */
  seed: SeedSchema,
  augmentation: AugmentationSchema,
});
/** Optimisation hyperparameters. */
export type HyperParams = z.infer<typeof HyperParamsSchema>;

/** GoogLeNet configuration: every worker builds the same graph from it. */
export const ModelConfigSchema = z.strictObject({
  /** Channel width multiplier applied to every layer (1 = the paper's widths). */
  width: z.number().positive().max(4),
  /** Build the two auxiliary classifiers (after 4a and 4d). */
  auxHeads: z.boolean(),
  /** BatchNorm after every convolution (not in the paper; it makes CIFAR training stable). */
  batchNorm: z.boolean(),
  /** Dropout rate before the final classifier (the paper used 0.4). */
  dropout: z.number().min(0).lt(1),
  /** Dropout rate inside the auxiliary heads (the paper used 0.7); ignored without aux heads. */
  auxDropout: z.number().min(0).lt(1),
});
/** GoogLeNet configuration. */
export type ModelConfig = z.infer<typeof ModelConfigSchema>;
