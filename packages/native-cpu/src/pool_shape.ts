// The addon's pooling shape (14 int32s) from TF.js's pooling attributes, or null where the native
// kernels do not apply and the cpu kernel must run. Padding and output size come from TF.js's own
// `computePool2DInfo`, as `convShape` does for convolutions, so 'same' pads exactly as TF does.
import { backend_util, type MaxPoolAttrs } from '@tensorflow/tfjs-core';

/** The attributes MaxPool, MaxPoolGrad, AvgPool and AvgPoolGrad share (AvgPoolGrad has no rounding mode). */
export interface PoolParams {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  /** 'same', 'valid', a number, or explicit `[[0, 0], [top, bottom], [left, right], [0, 0]]`. */
  pad: MaxPoolAttrs['pad'];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** Field positions in the Int32Array `poolShape` returns (the order pool.h's PoolShape has). */
export const POOL_SHAPE = {
  n: 0,
  h: 1,
  w: 2,
  c: 3,
  oh: 4,
  ow: 5,
  kh: 6,
  kw: 7,
  strideH: 8,
  strideW: 9,
  padTop: 10,
  padLeft: 11,
  padBottom: 12,
  padRight: 13,
} as const;

/** oneDNN's output size: floor((in - k + lo + hi) / stride) + 1. */
const outSize = (size: number, k: number, stride: number, lo: number, hi: number): number => Math.floor((size - k + lo + hi) / stride) + 1;

/**
 * The native shape of pooling `x [n, h, w, c]` with `p`, or null when the native kernels do not
 * handle it: a rounding mode giving an output size oneDNN's floor formula would not, a pad as wide
 * as the window (a window of padding only: TF.js gives -Infinity or NaN there, oneDNN refuses),
 * or shapes TF.js itself rejects (left to the cpu kernel so the user gets TF.js's own error).
 * TF.js's pooling kernels are NHWC only and take no dilation.
 */
export function poolShape(xShape: readonly number[], p: PoolParams): Int32Array | null {
  if (xShape.length !== 4) return null;
  let info: backend_util.Conv2DInfo;
  try {
    info = backend_util.computePool2DInfo(
      xShape as [number, number, number, number],
      p.filterSize,
      p.strides,
      1,
      p.pad,
      p.dimRoundingMode,
      'channelsLast',
    );
  } catch {
    return null;
  }
  const { padInfo: pad, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const fields = [info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, kh, kw, sh, sw];
  const pads = [pad.top, pad.left, pad.bottom, pad.right];
  const shape = Int32Array.from([...fields, ...pads]);
  // Int32Array wraps silently; every field must have survived and be positive (pads >= 0).
  if (fields.some((v, i) => !(v >= 1) || shape[i] !== v)) return null;
  if (pads.some((v, i) => !Number.isInteger(v) || v < 0 || shape[POOL_SHAPE.padTop + i] !== v)) return null;
  if (pad.top >= kh || pad.bottom >= kh || pad.left >= kw || pad.right >= kw) return null;
  if (info.outHeight !== outSize(info.inHeight, kh, sh, pad.top, pad.bottom)) return null;
  if (info.outWidth !== outSize(info.inWidth, kw, sw, pad.left, pad.right)) return null;
  return shape;
}

/** x `[n, h, w, c]` or y `[n, oh, ow, c]` of a pooling shape. */
export function poolShapeOf(s: Int32Array, what: 'x' | 'y'): [number, number, number, number] {
  const f = (k: keyof typeof POOL_SHAPE): number => s[POOL_SHAPE[k]]!;
  return what === 'x' ? [f('n'), f('h'), f('w'), f('c')] : [f('n'), f('oh'), f('ow'), f('c')];
}
