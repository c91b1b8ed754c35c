// Add, Sub, Multiply, RealDiv, Relu and Step for the 'onednn' backend: the addon's OpenMP loops
// on the cpu backend's Float32Arrays. The cpu backend's binary kernels broadcast through a
// per-element index computation, ~50x slower than a loop for BatchNorm's and the optimizer's
// `[n, h, w, c] op [c]` and scalar shapes. Anything else (other dtypes, broadcasts that are not a
// trailing repeat such as `[n, 1, 1, c]` against `[n, h, w, c]`) runs the cpu kernel.
import {
  Add,
  Multiply,
  RealDiv,
  Relu,
  Step,
  Sub,
  backend_util,
  type KernelConfig,
  type KernelFunc,
  type StepAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { f32, output, sizeOf, uninitialisedF32 } from './cpu_tensors.js';
import { BINARY_OPS, type OneDnnAddon } from './native_addon.js';

/** The kernels `eltwiseKernels` provides. */
export const ELTWISE_KERNEL_NAMES = [Add, Sub, Multiply, RealDiv, Relu, Step] as const;
type EltwiseKernelName = (typeof ELTWISE_KERNEL_NAMES)[number];

const BINARY: Record<string, number> = {
  [Add]: BINARY_OPS.add,
  [Sub]: BINARY_OPS.sub,
  [Multiply]: BINARY_OPS.mul,
  [RealDiv]: BINARY_OPS.div,
};

/**
 * Whether an operand of `shape` broadcast to `out` repeats its elements in order with a period of
 * its own size: its shape, leading 1s dropped, is a suffix of `out` (this includes equal shapes
 * and scalars). Exported for tests.
 */
export function isTrailingBroadcast(shape: readonly number[], out: readonly number[]): boolean {
  let first = 0;
  while (first < shape.length && shape[first] === 1) first++;
  const rest = shape.slice(first);
  if (rest.length > out.length) return false;
  const offset = out.length - rest.length;
  return rest.every((d, i) => d === out[offset + i]);
}

/** The six kernels for backend `backendName` over `addon`; `stock` gives the cpu kernel to fall back to. */
export function eltwiseKernels(
  addon: OneDnnAddon,
  backendName: string,
  stock: (kernelName: EltwiseKernelName) => KernelFunc,
): KernelConfig[] {
  const binary = (name: EltwiseKernelName): KernelConfig => {
    const fallback = stock(name);
    const op = BINARY[name] as number;
    const kernelFunc: KernelFunc = (args) => {
      const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
      const backend = args.backend as MathBackendCPU;
      const av = f32(backend, a);
      const bv = f32(backend, b);
      if (av === null || bv === null) return fallback(args);
      const outShape = backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      const size = sizeOf(outShape);
      if (size === 0 || (av.length !== size && bv.length !== size)) return fallback(args);
      if (!isTrailingBroadcast(a.shape, outShape) || !isTrailingBroadcast(b.shape, outShape)) return fallback(args);
      const out = uninitialisedF32(backend, size);
      addon.binaryOp(op, av, bv, out);
      return output(backend, outShape, out);
    };
    return { kernelName: name, backendName, kernelFunc };
  };

  const stockRelu = stock(Relu);
  const relu: KernelFunc = (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const backend = args.backend as MathBackendCPU;
    const xv = f32(backend, x);
    if (xv === null || xv.length === 0) return stockRelu(args);
    const y = uninitialisedF32(backend, xv.length);
    addon.relu(xv, y);
    return output(backend, x.shape, y);
  };

  const stockStep = stock(Step);
  const step: KernelFunc = (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const backend = args.backend as MathBackendCPU;
    const xv = f32(backend, x);
    if (xv === null || xv.length === 0) return stockStep(args);
    const y = uninitialisedF32(backend, xv.length);
    addon.step(xv, (args.attrs as unknown as StepAttrs).alpha ?? 0, y);
    return output(backend, x.shape, y);
  };

  return [
    binary(Add),
    binary(Sub),
    binary(Multiply),
    binary(RealDiv),
    { kernelName: Relu, backendName, kernelFunc: relu },
    { kernelName: Step, backendName, kernelFunc: step },
  ];
}
