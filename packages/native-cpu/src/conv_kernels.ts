// Conv2D, FusedConv2D, Conv2DBackpropInput and Conv2DBackpropFilter for the 'onednn' backend: the
// oneDNN addon on the cpu backend's own Float32Arrays (read in place, output written into a fresh
// array that becomes the tensor's storage), falling back to the cpu kernel for anything the addon
// does not handle. Kernel functions in the shape of tfjs-backend-cpu's kernels/Conv2D.ts.
import {
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  FusedConv2D,
  type Conv2DAttrs,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type FusedConv2DAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { convShape, shapeOf } from './conv_shape.js';
import { f32, output, sameShape, sizeOf, uninitialisedF32 } from './cpu_tensors.js';
import { BINARY_OPS, type OneDnnAddon } from './native_addon.js';

/**
 * A 1x1, stride 1, unpadded convolution over NHWC is a matrix product over m = n*h*w rows:
 * y[m, cout] = x[m, cin] . W[cin, cout], dx = dy . W^T, dW = x^T . dy, with HWIO's W already
 * [cin, cout]. oneDNN's sgemm runs these at 120-380 GFLOP/s here, where its 1x1 convolution
 * primitives on NHWC ran GoogLeNet's narrow ones (cout 16-48) at 5-10 GFLOP/s, and they need no
 * weight reorder. Returns [m, cin, cout], or null for any other convolution.
 */
function pointwise(shape: Int32Array): [number, number, number] | null {
  const [n = 0, h = 0, w = 0, cin = 0, , , cout = 0, kh, kw, sh, sw, pt, pl, pb, pr] = shape;
  if (kh !== 1 || kw !== 1 || sh !== 1 || sw !== 1 || pt !== 0 || pl !== 0 || pb !== 0 || pr !== 0) return null;
  return [n * h * w, cin, cout];
}

/** gemm `dims` for the addon's batchMatMul: one batch entry, [m, k] x [k, n], transposes. */
const gemm = (m: number, k: number, n: number, transposeA: boolean, transposeB: boolean): Float64Array =>
  Float64Array.of(1, 1, m, k, n, transposeA ? 1 : 0, transposeB ? 1 : 0);

/** The kernels `convKernels` provides. */
export const CONV_KERNEL_NAMES = [Conv2D, FusedConv2D, Conv2DBackpropInput, Conv2DBackpropFilter] as const;

/**
 * The four convolution kernels for backend `backendName` over `addon`. `stock` gives the cpu
 * backend's kernel function for a kernel name, run for what the addon does not handle (NCHW,
 * dilation, other dtypes, PReLU/LeakyReLU/... activations, bias other than `[cout]`).
 */
export function convKernels(
  addon: OneDnnAddon,
  backendName: string,
  stock: (kernelName: (typeof CONV_KERNEL_NAMES)[number]) => KernelFunc,
): KernelConfig[] {
  const stockConv = stock(Conv2D);
  const stockFused = stock(FusedConv2D);
  const stockDx = stock(Conv2DBackpropInput);
  const stockDw = stock(Conv2DBackpropFilter);

  const conv2D: KernelFunc = (args) => {
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const backend = args.backend as MathBackendCPU;
    const shape = convShape(x.shape, filter.shape, args.attrs as unknown as Conv2DAttrs);
    const xv = f32(backend, x);
    const wv = f32(backend, filter);
    if (shape === null || xv === null || wv === null) return stockConv(args);
    const yShape = shapeOf(shape, 'y');
    const y = uninitialisedF32(backend, sizeOf(yShape));
    const mm = pointwise(shape);
    if (mm !== null) addon.batchMatMul(xv, wv, y, gemm(mm[0], mm[1], mm[2], false, false));
    else addon.conv2dForward(shape, xv, wv, null, false, y);
    return output(backend, yShape, y);
  };

  const fusedConv2D: KernelFunc = (args) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs as {
      x: TensorInfo;
      filter: TensorInfo;
      bias?: TensorInfo;
      preluActivationWeights?: TensorInfo;
    };
    const attrs = args.attrs as unknown as FusedConv2DAttrs;
    const backend = args.backend as MathBackendCPU;
    const activation = attrs.activation ?? 'linear';
    const shape = convShape(x.shape, filter.shape, attrs);
    const xv = f32(backend, x);
    const wv = f32(backend, filter);
    const cout = filter.shape[3];
    // Only the bias a conv layer has, [cout]; broadcasting shapes go to the cpu kernel.
    const biasOk = bias === undefined || (bias.shape.length === 1 && bias.shape[0] === cout);
    const bv = bias === undefined ? null : f32(backend, bias);
    if (
      shape === null ||
      xv === null ||
      wv === null ||
      !biasOk ||
      (bias !== undefined && bv === null) ||
      preluActivationWeights !== undefined ||
      (activation !== 'linear' && activation !== 'relu')
    ) {
      return stockFused(args);
    }
    const yShape = shapeOf(shape, 'y');
    const y = uninitialisedF32(backend, sizeOf(yShape));
    const mm = pointwise(shape);
    if (mm !== null) {
      addon.batchMatMul(xv, wv, y, gemm(mm[0], mm[1], mm[2], false, false));
      if (bv !== null) addon.binaryOp(BINARY_OPS.add, y, bv, y); // in place: element i reads only y[i]
      if (activation === 'relu') addon.relu(y, y);
    } else {
      addon.conv2dForward(shape, xv, wv, bv, activation === 'relu', y);
    }
    return output(backend, yShape, y);
  };

  const conv2DBackpropInput: KernelFunc = (args) => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const attrs = args.attrs as unknown as Conv2DBackpropInputAttrs;
    const backend = args.backend as MathBackendCPU;
    const shape = convShape(attrs.inputShape, filter.shape, attrs);
    const dyv = f32(backend, dy);
    const wv = f32(backend, filter);
    if (shape === null || dyv === null || wv === null || !sameShape(dy.shape, shapeOf(shape, 'y'))) {
      return stockDx(args);
    }
    const xShape = shapeOf(shape, 'x');
    const dx = uninitialisedF32(backend, sizeOf(xShape));
    const mm = pointwise(shape);
    if (mm !== null) addon.batchMatMul(dyv, wv, dx, gemm(mm[0], mm[2], mm[1], false, true));
    else addon.conv2dBackwardData(shape, dyv, wv, dx);
    return output(backend, xShape, dx);
  };

  const conv2DBackpropFilter: KernelFunc = (args) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
    const backend = args.backend as MathBackendCPU;
    const shape = convShape(x.shape, attrs.filterShape, attrs);
    const xv = f32(backend, x);
    const dyv = f32(backend, dy);
    if (shape === null || xv === null || dyv === null || !sameShape(dy.shape, shapeOf(shape, 'y'))) {
      return stockDw(args);
    }
    const wShape = shapeOf(shape, 'filter');
    const dw = uninitialisedF32(backend, sizeOf(wShape));
    const mm = pointwise(shape);
    if (mm !== null) addon.batchMatMul(xv, dyv, dw, gemm(mm[1], mm[0], mm[2], true, false));
    else addon.conv2dBackwardWeights(shape, xv, dyv, dw);
    return output(backend, wShape, dw);
  };

  return [
    { kernelName: Conv2D, backendName, kernelFunc: conv2D },
    { kernelName: FusedConv2D, backendName, kernelFunc: fusedConv2D },
    { kernelName: Conv2DBackpropInput, backendName, kernelFunc: conv2DBackpropInput },
    { kernelName: Conv2DBackpropFilter, backendName, kernelFunc: conv2DBackpropFilter },
  ];
}
