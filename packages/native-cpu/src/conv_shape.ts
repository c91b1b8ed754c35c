// The addon's convolution shape (15 int32s) from TF.js's conv attributes, or null where the native
// kernels do not apply and the cpu kernel must run. Padding and output size come from TF.js's own
// `computeConv2DInfo`, so 'same' pads exactly as TF does (stride 2 on an even size: 0 top/left,
// 1 bottom/right).
import { backend_util, type Conv2DAttrs } from '@tensorflow/tfjs-core';

/** The attributes Conv2D, Conv2DBackpropInput/Filter and FusedConv2D share. */
export interface ConvParams {
  strides: [number, number] | number;
  /** 'same', 'valid', a number, or explicit `[[0, 0], [top, bottom], [left, right], [0, 0]]`. */
  pad: Conv2DAttrs['pad'];
  dataFormat: 'NHWC' | 'NCHW';
  /** Absent on the backprop kernels (TF.js computes gradients only for dilation 1). */
  dilations?: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** Field positions in the Int32Array `convShape` returns (the order conv.h's ConvShape has). */
export const SHAPE = {
  n: 0,
  h: 1,
  w: 2,
  cin: 3,
  oh: 4,
  ow: 5,
  cout: 6,
  kh: 7,
  kw: 8,
  strideH: 9,
  strideW: 10,
  padTop: 11,
  padLeft: 12,
  padBottom: 13,
  padRight: 14,
} as const;

const isOne = (d: [number, number] | number | undefined): boolean =>
  d === undefined || (typeof d === 'number' ? d === 1 : d[0] === 1 && d[1] === 1);

/** oneDNN's output size: floor((in - k + lo + hi) / stride) + 1. */
const outSize = (size: number, k: number, stride: number, lo: number, hi: number): number => Math.floor((size - k + lo + hi) / stride) + 1;

/**
 * The native shape of `x [n, h, w, cin] * filter [kh, kw, cin, cout]`, or null when the native
 * kernels do not handle it: NCHW, dilation > 1, a rounding mode giving an output size oneDNN's
 * floor formula would not, or shapes TF.js itself would reject (left to the cpu kernel so the
 * user gets TF.js's own error). Explicit padding of any width is native (oneDNN takes pads wider
 * than the filter too).
 */
export function convShape(xShape: readonly number[], filterShape: readonly number[], p: ConvParams): Int32Array | null {
  if (p.dataFormat !== 'NHWC' || !isOne(p.dilations)) return null;
  if (xShape.length !== 4 || filterShape.length !== 4 || xShape[3] !== filterShape[2]) return null;
  let info: backend_util.Conv2DInfo;
  try {
    info = backend_util.computeConv2DInfo(
      xShape as [number, number, number, number],
      filterShape as [number, number, number, number],
      p.strides,
      1,
      p.pad,
      p.dimRoundingMode,
      false,
      'channelsLast',
    );
  } catch {
    return null;
  }
  const { padInfo: pad, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const shape = Int32Array.of(
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.outChannels,
    kh,
    kw,
    sh,
    sw,
    pad.top,
    pad.left,
    pad.bottom,
    pad.right,
  );
  // Int32Array.of wraps silently; every field must have survived and be positive (pads >= 0).
  const fields = [
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.outChannels,
    kh,
    kw,
    sh,
    sw,
  ];
  if (fields.some((v, i) => !(v >= 1) || shape[i] !== v)) return null;
  const pads = [pad.top, pad.left, pad.bottom, pad.right];
  if (pads.some((v, i) => !Number.isInteger(v) || v < 0 || shape[SHAPE.padTop + i] !== v)) return null;
  if (info.outHeight !== outSize(info.inHeight, kh, sh, pad.top, pad.bottom)) return null;
  if (info.outWidth !== outSize(info.inWidth, kw, sw, pad.left, pad.right)) return null;
  return shape;
}

/** Elements of x `[n, h, w, cin]`, y `[n, oh, ow, cout]` and the filter `[kh, kw, cin, cout]`. */
export function shapeOf(s: Int32Array, what: 'x' | 'y' | 'filter'): [number, number, number, number] {
  const f = (k: keyof typeof SHAPE): number => s[SHAPE[k]]!;
  if (what === 'x') return [f('n'), f('h'), f('w'), f('cin')];
  if (what === 'y') return [f('n'), f('oh'), f('ow'), f('cout')];
  return [f('kh'), f('kw'), f('cin'), f('cout')];
}
