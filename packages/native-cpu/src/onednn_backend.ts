// The 'onednn' TensorFlow.js backend: tfjs-backend-cpu's backend class and every cpu kernel,
// re-registered under 'onednn', with the convolutions (conv_kernels.ts) and the poolings
// (pool_kernels.ts) replaced by oneDNN ones, and the memory-bound kernels a training step spends
// its remaining time in (element-wise ops, concat/split, BatchNorm) by the addon's OpenMP loops.
// Tensors live in ordinary JS typed arrays as on 'cpu', so there is no wasm heap and no 4 GB cap;
// each native kernel reads them in place. How tfjs-node registers 'tensorflow' is the model
// (registerBackend + a kernel config per kernel), minus libtensorflow.
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import {
  findBackendFactory,
  getKernel,
  getKernelsForBackend,
  registerBackend,
  registerKernel,
  unregisterKernel,
  type backend_util,
  type DataId,
  type DataType,
  type KernelFunc,
} from '@tensorflow/tfjs-core';
import { totalmem } from 'node:os';
import { BufferPool } from './buffer_pool.js';
import { CONV_KERNEL_NAMES, convKernels } from './conv_kernels.js';
import { poolKernels } from './pool_kernels.js';
import { eltwiseKernels } from './eltwise_kernels.js';
import { concatKernels } from './concat_kernels.js';
import { batchNormKernels } from './batch_norm_kernels.js';
import { matMulKernels } from './matmul_kernels.js';
import { loadNativeAddon, type OneDnnAddon, type OneDnnInfo } from './native_addon.js';

/** The backend's name, for `tf.setBackend`. */
export const ONEDNN_BACKEND = 'onednn';

/**
 * Above wasm (2) and cpu (1), below tfjs-node's 'tensorflow' (3): the order issue 11 asks for, so
 * that code which never calls `tf.setBackend` gets the fastest backend registered.
 */
export const ONEDNN_PRIORITY = 2.5;

/**
 * Default cap on memory kept for reuse (see buffer_pool.ts): half the machine's memory. At the end
 * of a step the pool holds what the step had live at its peak (width 1, batch 128: ~8 GB), all of
 * it reused by the next step; a cap below that drops buffers to the GC each step (a 4 GiB cap
 * made width 1 batch 128 steps 2-3x slower and RSS 13 GB). GNET_ONEDNN_POOL_MB overrides it.
 */
export function defaultPoolBytes(): number {
  return Math.floor(totalmem() / 2);
}

function poolBytes(): number {
  const mb = Number(process.env.GNET_ONEDNN_POOL_MB);
  return process.env.GNET_ONEDNN_POOL_MB !== undefined && Number.isFinite(mb) && mb >= 0 ? mb * 1024 ** 2 : defaultPoolBytes();
}

/**
 * The cpu backend's storage and kernels; the addon is where the native kernels run. Kernel outputs
 * come from `pool` and go back to it when their tensor is disposed (buffer_pool.ts says why and
 * what keeps that safe).
 */
export class OneDnnBackend extends MathBackendCPU {
  readonly pool = new BufferPool(poolBytes());

  constructor(readonly addon: OneDnnAddon) {
    super();
  }

  override write(values: backend_util.BackendValues, shape: number[], dtype: DataType): DataId {
    this.pool.noteStored(values);
    return super.write(values, shape, dtype);
  }

  override move(dataId: DataId, values: backend_util.BackendValues, shape: number[], dtype: DataType, refCount: number): void {
    this.pool.noteStored(values);
    super.move(dataId, values, shape, dtype, refCount);
  }

  /** Reads from outside the kernels (`dataSync`, `data`): a copy of a buffer the pool may reuse. */
  override readSync(dataId: DataId): backend_util.BackendValues {
    const values = super.readSync(dataId);
    return this.pool.isRecyclable(values) ? values.slice() : values;
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const values = this.data.has(dataId) ? this.data.get(dataId)?.values : undefined;
    const deleted = super.disposeData(dataId, force);
    if (deleted) this.pool.release(values);
    return deleted;
  }

  override dispose(): void {
    this.pool.clear();
    super.dispose();
  }
}

export type OneDnnRegistration =
  | {
      readonly registered: true;
      readonly info: OneDnnInfo;
      /** Kernels running natively (the rest are the cpu backend's). */
      readonly nativeKernels: readonly string[];
    }
  | { readonly registered: false; readonly reason: string };

let registration: OneDnnRegistration | undefined;

/**
 * Registers the 'onednn' backend if the oneDNN addon loads, else says why; never throws for a
 * missing addon. Idempotent. Registers no backend as a side effect of importing this module.
 * `@tensorflow/tfjs-backend-cpu` is imported by this module, so cpu's kernels are already
 * registered when they are copied.
 *
 * @example
 *   const r = registerOneDnnBackend();
 *   if (r.registered) await tf.setBackend('onednn');
 *   else log.info({ reason: r.reason }, 'oneDNN unavailable, using wasm');
 */
export function registerOneDnnBackend(): OneDnnRegistration {
  if (registration !== undefined) return registration;
  const { addon, reason } = loadNativeAddon();
  if (addon === null) {
    registration = { registered: false, reason };
    return registration;
  }
  if (getKernel(CONV_KERNEL_NAMES[0], 'cpu') === undefined) {
    // Only possible if tfjs-core was loaded twice (two registries): a bug, fail fast.
    throw new Error("registerOneDnnBackend: the 'cpu' backend's kernels are not registered in this tfjs-core");
  }
  for (const config of getKernelsForBackend('cpu')) {
    if (getKernel(config.kernelName, ONEDNN_BACKEND) === undefined) registerKernel({ ...config, backendName: ONEDNN_BACKEND });
  }
  const stock = (name: string): KernelFunc => {
    const config = getKernel(name, 'cpu');
    if (config === undefined) throw new Error(`registerOneDnnBackend: the 'cpu' backend has no '${name}' kernel to fall back to`);
    return config.kernelFunc;
  };
  const native = [
    ...convKernels(addon, ONEDNN_BACKEND, stock),
    ...poolKernels(addon, ONEDNN_BACKEND, stock),
    ...eltwiseKernels(addon, ONEDNN_BACKEND, stock),
    ...concatKernels(addon, ONEDNN_BACKEND, stock),
    ...batchNormKernels(addon, ONEDNN_BACKEND),
    ...matMulKernels(addon, ONEDNN_BACKEND, stock),
  ];
  for (const config of native) {
    // Unregister first: registerKernel only warns on a duplicate and keeps the old one.
    if (getKernel(config.kernelName, ONEDNN_BACKEND) !== undefined) unregisterKernel(config.kernelName, ONEDNN_BACKEND);
    registerKernel(config);
  }
  if (findBackendFactory(ONEDNN_BACKEND) === null) {
    registerBackend(ONEDNN_BACKEND, () => new OneDnnBackend(addon), ONEDNN_PRIORITY);
  }
  registration = { registered: true, info: addon.info(), nativeKernels: native.map((c) => c.kernelName) };
  return registration;
}
