// @gnet/native-cpu: a TensorFlow.js backend 'onednn' that keeps the cpu backend's tensors and runs
// the heavy kernels natively through oneDNN (issue 11).
export { ONEDNN_BACKEND, ONEDNN_PRIORITY, OneDnnBackend, registerOneDnnBackend, type OneDnnRegistration } from './onednn_backend.js';
export { loadNativeAddon, type AddonLoad, type OneDnnAddon, type OneDnnCacheStats, type OneDnnInfo } from './native_addon.js';
export { CONV_KERNEL_NAMES } from './conv_kernels.js';
export { convShape, type ConvParams } from './conv_shape.js';
export { POOL_KERNEL_NAMES } from './pool_kernels.js';
export { poolShape, type PoolParams } from './pool_shape.js';
export { ELTWISE_KERNEL_NAMES } from './eltwise_kernels.js';
export { CONCAT_KERNEL_NAMES } from './concat_kernels.js';
export { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD, BatchNormKernelInputError } from './batch_norm_kernels.js';
export { MATMUL_KERNEL_NAMES } from './matmul_kernels.js';
export { nativeFloat16Codec, type Float16CodecLoad, type NativeFloat16Codec } from './float16_codec.js';
