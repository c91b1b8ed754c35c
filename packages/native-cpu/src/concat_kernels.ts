// Concat and SplitV for the 'onednn' backend: block copies in the addon. Inception blocks
// concatenate four branches along channels (the last NHWC axis) and their gradient splits them
// again; the cpu backend's SplitV slices each branch element by element (~2.5 s per GoogLeNet
// step at batch 32, the largest single cost before this). Any axis works: a tensor is `rows` =
// product of the dims before the axis, times a contiguous run of the rest.
import {
  Concat,
  SplitV,
  backend_util,
  util,
  type ConcatAttrs,
  type KernelConfig,
  type KernelFunc,
  type SplitVAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { f32, output, sizeOf, uninitialisedF32 } from './cpu_tensors.js';
import type { OneDnnAddon } from './native_addon.js';

/** The kernels `concatKernels` provides. */
export const CONCAT_KERNEL_NAMES = [Concat, SplitV] as const;
type ConcatKernelName = (typeof CONCAT_KERNEL_NAMES)[number];

/** The two kernels for backend `backendName` over `addon`; `stock` gives the cpu kernel to fall back to. */
export function concatKernels(
  addon: OneDnnAddon,
  backendName: string,
  stock: (kernelName: ConcatKernelName) => KernelFunc,
): KernelConfig[] {
  const stockConcat = stock(Concat);
  const concat: KernelFunc = (args) => {
    const inputs = args.inputs as unknown as TensorInfo[];
    const backend = args.backend as MathBackendCPU;
    if (inputs.length === 0) return stockConcat(args);
    const axis = util.parseAxisParam((args.attrs as unknown as ConcatAttrs).axis, inputs[0]!.shape)[0]!;
    const parts = inputs.filter((t) => sizeOf(t.shape) > 0);
    const values = parts.map((t) => f32(backend, t));
    if (parts.length < 2 || values.some((v) => v === null)) return stockConcat(args);
    backend_util.assertParamsConsistent(
      parts.map((t) => t.shape),
      axis,
    );
    const outShape = backend_util.computeOutShape(
      parts.map((t) => t.shape),
      axis,
    );
    const rows = sizeOf(outShape.slice(0, axis));
    const outCols = sizeOf(outShape.slice(axis));
    const out = uninitialisedF32(backend, rows * outCols);
    let offset = 0;
    parts.forEach((t, i) => {
      const cols = sizeOf(t.shape.slice(axis));
      addon.copyBlock(values[i]!, out, Float64Array.of(cols, 0, outCols, offset, rows, cols));
      offset += cols;
    });
    return output(backend, outShape, out);
  };

  const stockSplit = stock(SplitV);
  const splitV: KernelFunc = (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const backend = args.backend as MathBackendCPU;
    const xv = f32(backend, x);
    if (xv === null) return stockSplit(args);
    const { numOrSizeSplits, axis } = args.attrs as unknown as SplitVAttrs;
    const $axis = util.parseAxisParam(axis, x.shape)[0]!;
    const sizes = backend_util.prepareSplitSize(x, numOrSizeSplits, $axis);
    const rows = sizeOf(x.shape.slice(0, $axis));
    const inner = sizeOf(x.shape.slice($axis + 1));
    const xCols = (x.shape[$axis] ?? 1) * inner;
    let offset = 0;
    return sizes.map((s) => {
      const shape = [...x.shape];
      shape[$axis] = s;
      const cols = s * inner;
      const out = uninitialisedF32(backend, rows * cols);
      addon.copyBlock(xv, out, Float64Array.of(xCols, offset, cols, 0, rows, cols));
      offset += cols;
      return output(backend, shape, out);
    });
  };

  return [
    { kernelName: Concat, backendName, kernelFunc: concat },
    { kernelName: SplitV, backendName, kernelFunc: splitV },
  ];
}
