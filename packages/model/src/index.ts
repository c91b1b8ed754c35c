// Public API of @gnet/model: GoogLeNet (Inception v1) for 32x32 CIFAR-10 on tfjs-core, with a
// width multiplier, auxiliary heads, named variables, and analytic parameter and FLOP counts.
export { ModelConfigError, ModelDisposedError, ModelInputError } from './errors.js';
export { defaultGoogLeNetConfig, resolveGoogLeNetConfig, type GoogLeNetConfig } from './config.js';
export { GOOGLENET_TABLE, INPUT_CHANNELS, INPUT_SIZE, STEM } from './googlenet_table.js';
export { BATCH_NORM_TRAIN_GRAD_KERNEL, BATCH_NORM_TRAIN_KERNEL, BN_EPSILON, batchNormTrain, hasFusedBatchNorm } from './batch_norm.js';
export { GoogLeNet, createGoogLeNet } from './googlenet.js';
export { countParams } from './count_params.js';
export { flopsPerImage } from './flops.js';
