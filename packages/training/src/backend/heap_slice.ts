// Slice and SplitV for the wasm backend that copy straight between views of its heap. The stock
// wasm Slice first copies its *whole* input out of the heap (`readSync`) for every slice, so the
// gradient of a 4-way channel concat (SplitV: one Slice per branch) copied the inception block's
// dy four times over; these copy each output element once. Semantics follow tfjs-core's
// `slice_util` (begin/size with -1 meaning "to the end", checked by the op before the kernel).
import { backend_util, slice_util, util, type TensorInfo } from '@tensorflow/tfjs-core';
import type { HeapBackend } from './heap_backend.js';

type Numeric = Float32Array | Int32Array | Uint8Array;

/**
 * Copies the box `begin .. begin+size` of `src` (row-major, `shape`) into `dst`. The innermost
 * axes that are taken whole merge into one contiguous run, copied with `set` when long enough
 * for that to beat an element loop.
 */
export function copyBox(src: Numeric, shape: readonly number[], begin: readonly number[], size: readonly number[], dst: Numeric): void {
  const rank = shape.length;
  if (rank === 0) {
    dst[0] = src[0]!;
    return;
  }
  // Last axis that is not taken whole: everything inside it is one contiguous run.
  let j = rank - 1;
  while (j > 0 && begin[j] === 0 && size[j] === shape[j]) j--;
  const strides = util.computeStrides([...shape]);
  const inner = j === rank - 1 ? 1 : strides[j]!;
  const run = size[j]! * inner;
  const outer = size.slice(0, j).reduce((a, b) => a * b, 1);
  const idx = new Array<number>(j).fill(0);
  let offset = 0;
  for (let t = 0; t < outer; t++) {
    let off = begin[j]! * inner;
    for (let a = 0; a < j; a++) off += (begin[a]! + idx[a]!) * strides[a]!;
    if (run >= 32) {
      dst.set(src.subarray(off, off + run), offset);
    } else {
      for (let e = 0; e < run; e++) dst[offset + e] = src[off + e]!;
    }
    offset += run;
    for (let a = j - 1; a >= 0; a--) {
      if (++idx[a]! < size[a]!) break;
      idx[a] = 0;
    }
  }
}

/** `Slice` on the wasm heap: `x` -> the box at `begin` of extent `size` (NamedAttrMap of tfjs's Slice). */
export function heapSlice(backend: HeapBackend, x: TensorInfo, begin: number | number[], size: number | number[]): TensorInfo {
  const [b, s] = slice_util.parseSliceParams(x, begin, size) as [number[], number[]];
  const out = backend.makeOutput(s, x.dtype as 'float32');
  if (util.sizeFromShape(s) > 0) copyBox(backend.typedArrayFromHeap(x), x.shape, b, s, backend.typedArrayFromHeap(out));
  return out;
}

/** `SplitV` on the wasm heap: consecutive slices of `x` along `axis`. */
export function heapSplitV(backend: HeapBackend, x: TensorInfo, numOrSizeSplits: number | number[], axis: number | number[]): TensorInfo[] {
  const ax = util.parseAxisParam(axis, x.shape)[0]!;
  const sizes = backend_util.prepareSplitSize(x, numOrSizeSplits, ax);
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((len) => {
    const size = [...x.shape];
    size[ax] = len;
    const out = heapSlice(backend, x, [...begin], size);
    begin[ax]! += len;
    return out;
  });
}
