// MaxPoolGrad written in TypeScript over the backend's own memory, exact to tfjs-backend-cpu's
// `maxPoolPositions` semantics (window scanned row-major, the first strict maximum wins, NaN and
// -Infinity windows pass no gradient). Replaces wasm's kernel, whose C++ starts each window at
// `std::numeric_limits<float>::min()` (the smallest *positive* float) with position 0, so every
// window whose maximum is <= 0 sends its gradient to flat offset 0 (outside almost every window:
// the gradient is lost), and which keeps the *last* tie, not the first
// (tfjs-backend-wasm 4.22 src/cc/kernels/MaxPoolGrad.cc).
import { backend_util, type KernelBackend, type MaxPoolGradAttrs, type TensorInfo } from '@tensorflow/tfjs-core';
import { isHeapBackend } from './heap_backend.js';

/** The part of tfjs-backend-cpu's `MathBackendCPU` we use to hand back a result. */
interface CpuBackend {
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): TensorInfo;
}

/**
 * Accumulates dx `[N, H, W, C]` (zeroed here) from dy `[N, OH, OW, C]`: each output pixel's
 * gradient goes to the first position of its window holding the window's maximum of x.
 * Channels are the innermost loop so every read walks contiguous NHWC memory.
 */
export function maxPoolGradInto(x: Float32Array, dy: Float32Array, dx: Float32Array, info: backend_util.Conv2DInfo): void {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { effectiveFilterHeight: kh, effectiveFilterWidth: kw, padInfo } = info;
  dx.fill(0);
  const best = new Float32Array(c);
  const bestAt = new Int32Array(c);
  let dyAt = 0;
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < oh; r++) {
      const r0 = r * sh - padInfo.top;
      for (let q = 0; q < ow; q++, dyAt += c) {
        const q0 = q * sw - padInfo.left;
        best.fill(-Infinity);
        bestAt.fill(-1);
        for (let i = 0; i < kh; i += dh) {
          const xr = r0 + i;
          if (xr < 0 || xr >= h) continue;
          for (let j = 0; j < kw; j += dw) {
            const xc = q0 + j;
            if (xc < 0 || xc >= w) continue;
            const base = ((b * h + xr) * w + xc) * c;
            for (let d = 0; d < c; d++) {
              const v = x[base + d]!;
              if (v > best[d]!) {
                best[d] = v;
                bestAt[d] = base + d;
              }
            }
          }
        }
        for (let d = 0; d < c; d++) {
          const at = bestAt[d]!;
          if (at >= 0) dx[at] = dx[at]! + dy[dyAt + d]!;
        }
      }
    }
  }
}

/**
 * Kernel body for `MaxPoolGrad` (inputs `dy`, `input`, `output`; NHWC float32) on the wasm
 * backend (works on its heap in place) or the cpu backend (its value arrays).
 */
export function maxPoolGradKernel(backend: KernelBackend, dy: TensorInfo, input: TensorInfo, attrs: MaxPoolGradAttrs): TensorInfo {
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  if (isHeapBackend(backend)) {
    // Allocate first: a malloc may grow wasm memory and detach earlier views of the heap.
    const out = backend.makeOutput(input.shape, 'float32');
    maxPoolGradInto(
      backend.typedArrayFromHeap(input) as Float32Array,
      backend.typedArrayFromHeap(dy) as Float32Array,
      backend.typedArrayFromHeap(out) as Float32Array,
      info,
    );
    return out;
  }
  const dx = new Float32Array(input.shape.reduce((a, b) => a * b, 1));
  maxPoolGradInto(backend.readSync(input.dataId) as Float32Array, backend.readSync(dy.dataId) as Float32Array, dx, info);
  return (backend as KernelBackend & CpuBackend).makeTensorInfo(input.shape, 'float32', dx);
}
