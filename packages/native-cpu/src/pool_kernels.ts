// MaxPool, MaxPoolGrad, AvgPool and AvgPoolGrad for the 'onednn' backend: the oneDNN addon on the
// cpu backend's own Float32Arrays, falling back to the cpu kernel for anything the addon does not
// handle. The same pattern as conv_kernels.ts (tfjs-backend-cpu's kernels/MaxPool.ts in shape).
//
// One deliberate difference from the cpu kernel: AvgPoolGrad with padding divides each window's dy
// by the window's input elements (padding excluded), the true gradient of AvgPool's forward and
// what TF's AvgPoolGrad does; tfjs-backend-cpu divides by the whole window (kh * kw) there, which
// is not the gradient of its own forward. With 'valid' padding (all of GoogLeNet's average pools)
// the two agree.
import {
  AvgPool,
  AvgPoolGrad,
  MaxPool,
  MaxPoolGrad,
  type AvgPoolAttrs,
  type AvgPoolGradAttrs,
  type KernelConfig,
  type KernelFunc,
  type MaxPoolAttrs,
  type MaxPoolGradAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { poolShape, poolShapeOf } from './pool_shape.js';
import { f32, output, sameShape, sizeOf, uninitialisedF32 } from './cpu_tensors.js';
import type { OneDnnAddon } from './native_addon.js';

/** The kernels `poolKernels` provides. */
export const POOL_KERNEL_NAMES = [MaxPool, MaxPoolGrad, AvgPool, AvgPoolGrad] as const;

/**
 * The four pooling kernels for backend `backendName` over `addon`. `stock` gives the cpu backend's
 * kernel function for a kernel name, run for what the addon does not handle (other dtypes,
 * rounding modes oneDNN's output size does not follow, pads as wide as the window).
 */
export function poolKernels(
  addon: OneDnnAddon,
  backendName: string,
  stock: (kernelName: (typeof POOL_KERNEL_NAMES)[number]) => KernelFunc,
): KernelConfig[] {
  const stockMax = stock(MaxPool);
  const stockMaxGrad = stock(MaxPoolGrad);
  const stockAvg = stock(AvgPool);
  const stockAvgGrad = stock(AvgPoolGrad);

  const forward =
    (max: boolean, fallback: KernelFunc): KernelFunc =>
    (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      const backend = args.backend as MathBackendCPU;
      const shape = poolShape(x.shape, args.attrs as unknown as MaxPoolAttrs | AvgPoolAttrs);
      const xv = f32(backend, x);
      if (shape === null || xv === null) return fallback(args);
      const yShape = poolShapeOf(shape, 'y');
      const y = uninitialisedF32(backend, sizeOf(yShape));
      addon.pool2dForward(shape, max, xv, y);
      return output(backend, yShape, y);
    };

  // Inputs (dy, input, output); the output is not needed: the addon's forward gives the argmax.
  const maxPoolGrad: KernelFunc = (args) => {
    const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
    const backend = args.backend as MathBackendCPU;
    const shape = poolShape(input.shape, args.attrs as unknown as MaxPoolGradAttrs);
    const xv = f32(backend, input);
    const dyv = f32(backend, dy);
    if (shape === null || xv === null || dyv === null || !sameShape(dy.shape, poolShapeOf(shape, 'y'))) {
      return stockMaxGrad(args);
    }
    const dx = uninitialisedF32(backend, xv.length);
    addon.maxPool2dBackward(shape, xv, dyv, dx);
    return output(backend, input.shape, dx);
  };

  const avgPoolGrad: KernelFunc = (args) => {
    const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
    const backend = args.backend as MathBackendCPU;
    const shape = poolShape(input.shape, args.attrs as unknown as AvgPoolGradAttrs);
    const dyv = f32(backend, dy);
    if (shape === null || input.dtype !== 'float32' || dyv === null || !sameShape(dy.shape, poolShapeOf(shape, 'y'))) {
      return stockAvgGrad(args);
    }
    const dx = uninitialisedF32(backend, sizeOf(input.shape));
    addon.avgPool2dBackward(shape, dyv, dx);
    return output(backend, input.shape, dx);
  };

  return [
    { kernelName: MaxPool, backendName, kernelFunc: forward(true, stockMax) },
    { kernelName: MaxPoolGrad, backendName, kernelFunc: maxPoolGrad },
    { kernelName: AvgPool, backendName, kernelFunc: forward(false, stockAvg) },
    { kernelName: AvgPoolGrad, backendName, kernelFunc: avgPoolGrad },
  ];
}
