// Largest micro-batch a backend can train GoogLeNet on. wasm's heap is capped at 4 GB: width 1
// trains at 16 images per pass at most ('memory access out of bounds' / 'table index is out of
// bounds' beyond), and activation memory scales with width x batch, so width 0.25 fits 64 (128
// crashed here). Other backends are not capped here.
import type { BackendName } from './select_backend.js';

/** Images x width that fit one wasm forward/backward pass of GoogLeNet (measured: width 1 x 16). */
export const WASM_IMAGE_WIDTH_BUDGET = 16;

export function maxMicroBatch(backend: BackendName, width: number): number {
  if (backend !== 'wasm') return Number.POSITIVE_INFINITY;
  return Math.max(1, Math.floor(WASM_IMAGE_WIDTH_BUDGET / width));
}
