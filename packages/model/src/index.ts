// Public API of @gnet/model: GoogLeNet (Inception v1) for 32x32 CIFAR-10 on tfjs-core, with a
// width multiplier, auxiliary heads, named variables, and analytic parameter and FLOP counts.
export { ModelConfigError, ModelDisposedError, ModelError, ModelInputError, type ModelErrorCode } from './errors.js';
export { MAX_WIDTH, defaultGoogLeNetConfig, resolveGoogLeNetConfig, scaleChannels, type GoogLeNetConfig } from './config.js';
export {
  AUX_HEADS,
  GOOGLENET_TABLE,
  INPUT_CHANNELS,
  INPUT_SIZE,
  STEM,
  type InceptionRow,
  type MaxPoolRow,
  type TableRow,
} from './googlenet_table.js';
export type { NamedVariable } from './param_builder.js';
export {
  BATCH_NORM_TRAIN_GRAD_KERNEL,
  BATCH_NORM_TRAIN_KERNEL,
  BN_EPSILON,
  BN_MOMENTUM,
  batchNormTrain,
  hasFusedBatchNorm,
  type RunningStats,
} from './batch_norm.js';
export { GoogLeNet, createGoogLeNet, type ForwardOptions, type ForwardResult } from './googlenet.js';
export { countParams, type ParamCount } from './count_params.js';
export { flopsPerImage, type FlopCount } from './flops.js';
