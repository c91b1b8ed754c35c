// Conv2DBackpropInput (dx) rebuilt as one forward convolution, for backends whose forward conv is
// fast (wasm: XNNPACK) and whose stock dx kernel is a scalar loop (~61% of a wasm training step).
// Follows the transposed-convolution identity of Dumoulin & Visin, "A guide to convolution
// arithmetic for deep learning" (2016), section 4: dx = conv(dilate(dy, stride), rot180(W)ᵀ).
import { backend_util, type Conv2DBackpropInputAttrs, type KernelBackend, type TensorInfo } from '@tensorflow/tfjs-core';
import { KernelScope } from './kernel_scope.js';

/**
 * `W [KH, KW, Cin, Cout]` -> `W' [KH, KW, Cout, Cin]` with `W'[kh, kw, co, ci] = W[KH-1-kh, KW-1-kw, ci, co]`,
 * in one pass of TypeScript over the (small) filter. wasm's Reverse kernel is a generic per-element
 * loop that took ~24 ms for a 3x3x160x320 filter, as long as the convolution it feeds.
 */
export function flipSwapFilter(backend: KernelBackend, filter: TensorInfo): TensorInfo {
  const [kh, kw, cin, cout] = filter.shape as [number, number, number, number];
  const filterValues = backend.readSync(filter.dataId) as Float32Array;
  const out = new Float32Array(filterValues.length);
  const taps = kh * kw;
  const block = cin * cout;
  for (let t = 0; t < taps; t++) {
    const src = t * block;
    const dst = (taps - 1 - t) * block; // flipping both spatial axes reverses the flat tap index
    for (let ci = 0; ci < cin; ci++) {
      const row = src + ci * cout;
      for (let co = 0; co < cout; co++) out[dst + co * cin + ci] = filterValues[row + co]!;
    }
  }
  const shape = [kh, kw, cout, cin];
  return { dataId: backend.write(out, shape, 'float32'), shape, dtype: 'float32' };
}

/**
 * dx for `y = conv2d(x, W, strides, pad)` (NHWC, dilation 1) as a stride-1 forward convolution:
 *
 * - dy `[N, OH, OW, Cout]` is dilated by the stride (s-1 zeros after each row/column, built with a
 *   rank-6 reshape + pad, no scatter), giving `[N, OH*sh, OW*sw, Cout]`;
 * - W `[KH, KW, Cin, Cout]` is flipped spatially and its channel axes swapped: `[KH, KW, Cout, Cin]`
 *   (for 1x1 only the swap, which makes the convolution a plain matrix product);
 * - padding top/left is `K-1-pad` (the "full" correlation), bottom/right whatever makes the output
 *   exactly `[N, H, W, Cin]` (negative means the trailing dilation zeros are cropped).
 *
 * Stride 2 spends 3/4 of its multiply-adds on inserted zeros; still far faster than the stock loop
 * on wasm. Returns `null` where the identity does not apply (NCHW, padding wider than the
 * filter), so the caller falls back to the stock kernel.
 */
export function conv2DBackpropInputViaConv(
  backendName: string,
  backend: KernelBackend,
  dy: TensorInfo,
  filter: TensorInfo,
  attrs: Conv2DBackpropInputAttrs,
): TensorInfo | null {
  if (attrs.dataFormat === 'NCHW') return null;
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const { batchSize: n, inHeight: h, inWidth: w, outHeight: oh, outWidth: ow, outChannels: cout } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, padInfo } = info;
  const padTop = kh - 1 - padInfo.top;
  const padLeft = kw - 1 - padInfo.left;
  if (padTop < 0 || padLeft < 0) return null;

  const scope = new KernelScope(backendName, backend);
  try {
    // Dilated dy, with (s-1) zero rows/columns also after the last ones: [N, OH*sh, OW*sw, Cout].
    let src = dy;
    if (sh > 1 || sw > 1) {
      const r6 = scope.reshape(dy, [n, oh, 1, ow, 1, cout]);
      const padded = scope.run(
        'PadV2',
        { x: r6 },
        {
          paddings: [
            [0, 0],
            [0, 0],
            [0, sh - 1],
            [0, 0],
            [0, sw - 1],
            [0, 0],
          ],
          constantValue: 0,
        },
      );
      src = scope.reshape(padded, [n, oh * sh, ow * sw, cout]);
    }
    const rows = oh * sh;
    const cols = ow * sw;
    // Output length = padTop + rows + padBottom - KH + 1 must equal H.
    let padBottom = h + kh - 1 - padTop - rows;
    let padRight = w + kw - 1 - padLeft - cols;
    if (padBottom < 0 || padRight < 0) {
      src = scope.run(
        'Slice',
        { x: src },
        {
          begin: [0, 0, 0, 0],
          size: [n, rows + Math.min(0, padBottom), cols + Math.min(0, padRight), cout],
        },
      );
      padBottom = Math.max(0, padBottom);
      padRight = Math.max(0, padRight);
    }
    const swapped = kh * kw > 1 ? scope.adopt(flipSwapFilter(backend, filter)) : scope.transpose(filter, [0, 1, 3, 2]);
    const dx = scope.run(
      'Conv2D',
      { x: src, filter: swapped },
      {
        strides: [1, 1],
        pad: [
          [0, 0],
          [padTop, padBottom],
          [padLeft, padRight],
          [0, 0],
        ],
        dataFormat: 'NHWC',
        dilations: [1, 1],
      },
    );
    return scope.keep(dx);
  } finally {
    scope.dispose();
  }
}
