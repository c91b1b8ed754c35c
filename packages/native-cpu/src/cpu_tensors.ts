// Reading and making the cpu backend's float32 tensors in place, for the native kernels (the
// addon reads inputs and writes outputs straight into these arrays: no copy either way).
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';

/** A float32 tensor's values, in place; null for anything else (then the cpu kernel runs). */
export function f32(backend: MathBackendCPU, t: TensorInfo): Float32Array | null {
  if (t.dtype !== 'float32') return null;
  const values = backend.readSync(t.dataId);
  return values instanceof Float32Array ? values : null;
}

/** Hands `values` to the backend as a new tensor's storage (no copy). */
export function output(backend: MathBackendCPU, shape: number[], values: Float32Array): TensorInfo {
  return backend.makeTensorInfo(shape, 'float32', values);
}

export const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/** Elements of a tensor of `shape`. */
export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
