// Registers our training kernels (conv dx/dW, MaxPoolGrad, and on wasm Slice/SplitV) for the pure
// backends, keeping the stock kernels for fallback and for restoring. Kernel registration (rather
// than overriding the Conv2D *gradient* with tf.registerGradient) is deliberate: the gradient
// registry is global to all backends while kernels are per backend, so 'tensorflow' keeps its own
// native kernels; and tf.fused.conv2d computes its gradient by calling the conv2DBackpropInput/Filter
// ops directly (a customGrad no registerGradient reaches), which land in these kernels too.
import {
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  getKernel,
  MaxPoolGrad,
  registerKernel,
  Slice,
  SplitV,
  unregisterKernel,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type MaxPoolGradAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterViaConv, type PointwiseFilterGrad } from './conv2d_backprop_filter.js';
import { conv2DBackpropInputViaConv } from './conv2d_backprop_input.js';
import { isHeapBackend } from './heap_backend.js';
import { heapSlice, heapSplitV } from './heap_slice.js';
import { maxPoolGradKernel } from './max_pool_grad.js';

/** Backends we have training kernels for. */
export type PureBackendName = 'wasm' | 'cpu';

/** Which of our kernels a backend gets; the rest stay stock. Chosen by bench/backend_kernels.bench.ts. */
export interface KernelPlan {
  /** Conv2DBackpropInput as a forward conv: 'all' strides, only 'stride1', or never (stock). */
  readonly dx: 'all' | 'stride1' | 'stock';
  readonly dwPointwise: PointwiseFilterGrad;
  /** Our MaxPoolGrad: on wasm it fixes a wrong-gradient bug; on cpu it is just faster. */
  readonly maxPoolGrad: boolean;
  /** Slice/SplitV copying heap to heap (wasm only: the stock ones copy the whole input per slice). */
  readonly heapSlice: boolean;
}

const PLANS: Record<PureBackendName, KernelPlan> = {
  // wasm: XNNPACK's forward conv is ~30x the stock dx loop even with stride 2's 4x wasted zeros.
  wasm: { dx: 'all', dwPointwise: 'matMul', maxPoolGrad: true, heapSlice: true },
  // cpu: stock dx (its loop is as fast per FLOP as cpu's forward conv, and skips the zeros a
  // stride-2 dilation inserts); dW as a conv is 25-90x its ~0.005 GFLOP/s loop.
  cpu: { dx: 'stock', dwPointwise: 'matMul', maxPoolGrad: true, heapSlice: false },
};

/** The kernels `registerTrainingKernels` may replace (which ones depends on the backend's plan). */
export const TRAINING_KERNEL_NAMES = [Conv2DBackpropInput, Conv2DBackpropFilter, MaxPoolGrad, Slice, SplitV] as const;

/** Stock kernel configs we displaced, keyed `${backend}/${kernel}` (undefined: there was none). */
const displaced = new Map<string, KernelConfig | undefined>();

function strideOf(strides: number | [number, number]): number {
  return typeof strides === 'number' ? strides : Math.max(strides[0], strides[1]);
}

function makeKernels(backendName: PureBackendName, plan: KernelPlan, stock: (name: string) => KernelFunc | undefined): KernelConfig[] {
  const configs: KernelConfig[] = [];
  const stockDx = stock(Conv2DBackpropInput);
  if (plan.dx !== 'stock' || stockDx === undefined) {
    configs.push({
      kernelName: Conv2DBackpropInput,
      backendName,
      kernelFunc: (args) => {
        const attrs = args.attrs as unknown as Conv2DBackpropInputAttrs;
        const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
        const ours = plan.dx === 'all' || strideOf(attrs.strides) === 1;
        const out = ours ? conv2DBackpropInputViaConv(backendName, args.backend as KernelBackend, dy, filter, attrs) : null;
        if (out !== null) return out;
        if (stockDx === undefined) throw new Error(`Conv2DBackpropInput: no kernel for these attrs on '${backendName}'`);
        return stockDx(args);
      },
    });
  }
  configs.push({
    kernelName: Conv2DBackpropFilter,
    backendName,
    kernelFunc: (args) => {
      const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
      const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
      return conv2DBackpropFilterViaConv(backendName, args.backend as KernelBackend, x, dy, attrs, plan.dwPointwise);
    },
  });
  if (plan.maxPoolGrad) {
    configs.push({
      kernelName: MaxPoolGrad,
      backendName,
      kernelFunc: (args) => {
        const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
        return maxPoolGradKernel(args.backend as KernelBackend, dy, input, args.attrs as unknown as MaxPoolGradAttrs);
      },
    });
  }
  const stockSlice = stock(Slice);
  const stockSplitV = stock(SplitV);
  if (plan.heapSlice && stockSlice !== undefined && stockSplitV !== undefined) {
    configs.push({
      kernelName: Slice,
      backendName,
      kernelFunc: (args) => {
        const x = args.inputs['x'] as TensorInfo;
        const backend = args.backend as KernelBackend;
        if (x.dtype === 'string' || x.dtype === 'complex64' || !isHeapBackend(backend)) return stockSlice(args);
        const attrs = args.attrs as { begin: number | number[]; size: number | number[] };
        return heapSlice(backend, x, attrs.begin, attrs.size);
      },
    });
    configs.push({
      kernelName: SplitV,
      backendName,
      kernelFunc: (args) => {
        const x = args.inputs['x'] as TensorInfo;
        const backend = args.backend as KernelBackend;
        if (x.dtype === 'string' || x.dtype === 'complex64' || !isHeapBackend(backend)) return stockSplitV(args);
        const attrs = args.attrs as { numOrSizeSplits: number | number[]; axis: number | number[] };
        return heapSplitV(backend, x, attrs.numOrSizeSplits, attrs.axis);
      },
    });
  }
  return configs;
}

/** True while our kernels are registered for `backendName`. */
export function trainingKernelsRegistered(backendName: PureBackendName): boolean {
  return [...displaced.keys()].some((key) => key.startsWith(`${backendName}/`));
}

/**
 * Registers our Conv2DBackpropInput / Conv2DBackpropFilter / MaxPoolGrad (and on wasm Slice/SplitV)
 * kernels for `backendName`, as its plan says (`plan` overrides parts of it, for benchmarks and
 * tests). The backend's package must already be imported. Afterwards every conv2d and maxPool
 * gradient on that backend, tf.fused.conv2d's included, runs through them. Idempotent: while
 * registered, a second call changes nothing (unregister first to change the plan).
 * Returns the kernel names replaced.
 */
export function registerTrainingKernels(backendName: PureBackendName, plan: Partial<KernelPlan> = {}): string[] {
  if (trainingKernelsRegistered(backendName)) {
    return [...displaced.keys()].filter((k) => k.startsWith(`${backendName}/`)).map((k) => k.slice(backendName.length + 1));
  }
  if (getKernel('Conv2D', backendName) === undefined) {
    // Registering first would let the package's own registration overwrite ours later.
    throw new Error(
      `registerTrainingKernels('${backendName}'): the backend's kernels are not registered; import '@tensorflow/tfjs-backend-${backendName}' first`,
    );
  }
  const stockConfigs = new Map<string, KernelConfig | undefined>();
  for (const name of TRAINING_KERNEL_NAMES) stockConfigs.set(name, getKernel(name, backendName));
  const stockFunc = (name: string): KernelFunc | undefined => stockConfigs.get(name)?.kernelFunc;
  const configs = makeKernels(backendName, { ...PLANS[backendName], ...plan }, stockFunc);
  for (const config of configs) {
    const old = stockConfigs.get(config.kernelName);
    // A backend runs setupFunc only for the kernels registered when it initialises. If that is
    // after this call, ours must set up the stock kernel (wasm's cwraps its C++ function there),
    // which we still call as a fallback and put back on unregister.
    if (old?.setupFunc !== undefined) config.setupFunc = old.setupFunc;
    if (old?.disposeFunc !== undefined) config.disposeFunc = old.disposeFunc;
    // Unregister first: registerKernel only warns on a duplicate, and we want no console noise.
    if (old !== undefined) unregisterKernel(config.kernelName, backendName);
    registerKernel(config);
    displaced.set(`${backendName}/${config.kernelName}`, old);
  }
  return configs.map((c) => c.kernelName);
}

/** Puts the stock kernels back for `backendName` (for benchmarks and tests comparing the two). */
export function unregisterTrainingKernels(backendName: PureBackendName): void {
  for (const [key, old] of [...displaced]) {
    if (!key.startsWith(`${backendName}/`)) continue;
    const kernelName = key.slice(backendName.length + 1);
    unregisterKernel(kernelName, backendName);
    if (old !== undefined) registerKernel(old);
    displaced.delete(key);
  }
}
