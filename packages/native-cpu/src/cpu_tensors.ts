// Reading and making the cpu backend's float32 tensors in place, for the native kernels (the
// addon reads inputs and writes outputs straight into these arrays: no copy either way).
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';

/**
 * A float32 tensor's values, in place; null for anything else (then the cpu kernel runs). Reads
 * the backend's storage as the cpu kernels do, not `readSync`, which copies pooled buffers.
 */
export function f32(backend: MathBackendCPU, t: TensorInfo): Float32Array | null {
  if (t.dtype !== 'float32') return null;
  const values = backend.data.get(t.dataId)?.values;
  return values instanceof Float32Array ? values : null;
}

/** Hands `values` to the backend as a new tensor's storage (no copy). */
export function output(backend: MathBackendCPU, shape: number[], values: Float32Array): TensorInfo {
  return backend.makeTensorInfo(shape, 'float32', values);
}

export const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/** Elements of a tensor of `shape`. */
export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * An uninitialised array of `length` floats for a kernel output it writes entirely: from the
 * 'onednn' backend's pool (buffer_pool.ts) when `backend` has one, else a fresh zeroed array.
 * Never for outputs a kernel only partly writes.
 */
export function uninitialisedF32(backend: MathBackendCPU, length: number): Float32Array {
  const pool = (backend as { pool?: { take(length: number): Float32Array } }).pool;
  return pool === undefined ? new Float32Array(length) : pool.take(length);
}
