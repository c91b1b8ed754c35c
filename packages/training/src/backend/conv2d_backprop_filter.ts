// Conv2DBackpropFilter (dW) rebuilt from transposes plus one forward convolution (or one matrix
// product for 1x1 stride-1 filters). wasm has no dW kernel at all ("Kernel 'Conv2DBackpropFilter'
// not registered for backend 'wasm'") and cpu's runs at ~0.01 GFLOP/s; both have a usable
// forward convolution. Same identity as TensorFlow's `conv_grad_filter_ops` uses when it calls a
// forward conv: the filter gradient is a correlation of x with dy over the batch.
import { backend_util, type Conv2DBackpropFilterAttrs, type KernelBackend, type TensorInfo } from '@tensorflow/tfjs-core';
import { KernelScope } from './kernel_scope.js';

/** How a 1x1, stride-1, unpadded dW is computed: one matrix product, or the general convolution. */
export type PointwiseFilterGrad = 'matMul' | 'conv';

/**
 * dW `[KH, KW, Cin, Cout]` for `y = conv2d(x, W, strides, pad)` (NHWC, dilation 1):
 *
 *   dW[kh, kw, ci, co] = Σ_{n, oh, ow} x[n, oh*sh + kh - padTop, ow*sw + kw - padLeft, ci] · dy[n, oh, ow, co]
 *
 * which is a forward convolution with the batch as its channel axis: input
 * `xᵀ = transpose(x) [Cin, H, W, N]`, filter `dyᵀ = transpose(dy) [OH, OW, N, Cout]`, stride 1,
 * dilation = the forward stride, top/left padding = the forward padding, giving `[Cin, KH, KW, Cout]`,
 * transposed back. Rows/columns of x that no window reaches (valid padding, stride 2) are sliced off
 * first, because padding cannot be negative. For 1x1 stride-1 unpadded filters `pointwise`
 * `'matMul'` uses `xᵀ[Cin, NHW] · dy[NHW, Cout]` instead. NCHW inputs are transposed to NHWC.
 */
export function conv2DBackpropFilterViaConv(
  backendName: string,
  backend: KernelBackend,
  x: TensorInfo,
  dy: TensorInfo,
  attrs: Conv2DBackpropFilterAttrs,
  pointwise: PointwiseFilterGrad = 'matMul',
): TensorInfo {
  const scope = new KernelScope(backendName, backend);
  try {
    let xs = x;
    let dys = dy;
    let pad = attrs.pad;
    if (attrs.dataFormat === 'NCHW') {
      xs = scope.transpose(x, [0, 2, 3, 1]);
      dys = scope.transpose(dy, [0, 2, 3, 1]);
      // Explicit NCHW padding [[0,0],[0,0],[t,b],[l,r]] becomes NHWC [[0,0],[t,b],[l,r],[0,0]].
      if (Array.isArray(pad)) pad = [pad[0], pad[2], pad[3], pad[1]] as typeof pad;
    }
    const info = backend_util.computeConv2DInfo(
      xs.shape as [number, number, number, number],
      attrs.filterShape,
      attrs.strides,
      1,
      pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    const { batchSize: n, inHeight: h, inWidth: w, inChannels: cin, outHeight: oh, outWidth: ow } = info;
    const { outChannels: cout, strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, padInfo } = info;
    const unpadded = padInfo.top === 0 && padInfo.left === 0 && padInfo.bottom === 0 && padInfo.right === 0;

    if (pointwise === 'matMul' && kh === 1 && kw === 1 && sh === 1 && sw === 1 && unpadded) {
      const x2 = scope.reshape(xs, [n * h * w, cin]);
      const xT = scope.reshape(scope.transpose(x2, [1, 0]), [1, cin, n * h * w]);
      const dy3 = scope.reshape(dys, [1, n * oh * ow, cout]);
      const prod = scope.run('BatchMatMul', { a: xT, b: dy3 }, { transposeA: false, transposeB: false });
      return scope.keep(scope.reshape(prod, [1, 1, cin, cout]));
    }

    // Exclusive end, in x coordinates, of the rows/columns the last window touches.
    const endRow = (oh - 1) * sh + kh - padInfo.top;
    const endCol = (ow - 1) * sw + kw - padInfo.left;
    if (endRow < h || endCol < w) {
      xs = scope.run('Slice', { x: xs }, { begin: [0, 0, 0, 0], size: [n, Math.min(h, endRow), Math.min(w, endCol), cin] });
    }
    const xT = scope.transpose(xs, [3, 1, 2, 0]); // [Cin, H', W', N]
    const dyT = scope.transpose(dys, [1, 2, 0, 3]); // [OH, OW, N, Cout]
    const grad = scope.run(
      'Conv2D',
      { x: xT, filter: dyT },
      {
        strides: [1, 1],
        pad: [
          [0, 0],
          [padInfo.top, Math.max(0, endRow - h)],
          [padInfo.left, Math.max(0, endCol - w)],
          [0, 0],
        ],
        dataFormat: 'NHWC',
        dilations: [sh, sw],
      },
    ); // [Cin, KH, KW, Cout]
    return scope.keep(scope.transpose(grad, [1, 2, 0, 3]));
  } finally {
    scope.dispose();
  }
}
