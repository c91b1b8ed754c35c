// The slice of tfjs-backend-wasm's `BackendWasm` our kernels use to work on its heap in place,
// typed structurally so the cpu backend (values in JS arrays) can be told apart at run time.
import type { KernelBackend, TensorInfo } from '@tensorflow/tfjs-core';

/** A backend whose tensors live in one linear memory (tfjs-backend-wasm 4.22 `BackendWasm`). */
export interface HeapBackend extends KernelBackend {
  /** Allocates an output on the heap (uninitialised). */
  makeOutput(shape: number[], dtype: 'float32' | 'int32' | 'bool'): TensorInfo;
  /** A view of the tensor's bytes on the heap; invalidated by any later allocation (memory growth). */
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** True for tfjs-backend-wasm's backend. */
export function isHeapBackend(backend: KernelBackend): backend is HeapBackend {
  return 'typedArrayFromHeap' in backend && 'makeOutput' in backend;
}
