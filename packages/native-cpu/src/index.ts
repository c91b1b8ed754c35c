// @gnet/native-cpu: a TensorFlow.js backend 'onednn' that keeps the cpu backend's tensors and runs
// the heavy kernels natively through oneDNN (issue 11).
export { ONEDNN_BACKEND, OneDnnBackend, registerOneDnnBackend } from './onednn_backend.js';
export { loadNativeAddon } from './native_addon.js';
export { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD } from './batch_norm_kernels.js';
export { nativeFloat16Codec } from './float16_codec.js';
