// BatchMatMul for the 'onednn' backend: oneDNN's sgemm per batch entry. The cpu backend's blocked
// JS matmul ran the auxiliary heads' 2048x1024 dense layers at ~0.3 GFLOP/s, ~1 s of a GoogLeNet
// step at batch 32. Outer (batch) dims must be equal or one side's all 1s; anything else, and
// non-float32 inputs, run the cpu kernel.
import {
  BatchMatMul,
  backend_util,
  type BatchMatMulAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { f32, output, sameShape, sizeOf } from './cpu_tensors.js';
import type { OneDnnAddon } from './native_addon.js';

/** The kernels `matMulKernels` provides. */
export const MATMUL_KERNEL_NAMES = [BatchMatMul] as const;

/** The kernel for backend `backendName` over `addon`; `stock` gives the cpu kernel to fall back to. */
export function matMulKernels(
  addon: OneDnnAddon,
  backendName: string,
  stock: (kernelName: (typeof MATMUL_KERNEL_NAMES)[number]) => KernelFunc,
): KernelConfig[] {
  const fallback = stock(BatchMatMul);
  const kernelFunc: KernelFunc = (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
    const backend = args.backend as MathBackendCPU;
    const av = f32(backend, a);
    const bv = f32(backend, b);
    if (av === null || bv === null || a.shape.length < 2 || b.shape.length < 2) return fallback(args);
    const outerA = a.shape.slice(0, -2);
    const outerB = b.shape.slice(0, -2);
    const batchA = sizeOf(outerA);
    const batchB = sizeOf(outerB);
    const [ra, ca] = a.shape.slice(-2) as [number, number];
    const [rb, cb] = b.shape.slice(-2) as [number, number];
    const [m, k] = transposeA ? [ca, ra] : [ra, ca];
    const [kb, n] = transposeB ? [cb, rb] : [rb, cb];
    // Equal batch dims, or one side's all 1s (after broadcasting, the other side's batch).
    if (k !== kb || m * n * k * batchA * batchB === 0 || !(sameShape(outerA, outerB) || batchA === 1 || batchB === 1))
      return fallback(args);
    const outShape = [...backend_util.assertAndGetBroadcastShape(outerA, outerB), m, n];
    const out = new Float32Array(Math.max(batchA, batchB) * m * n);
    addon.batchMatMul(av, bv, out, Float64Array.of(batchA, batchB, m, k, n, transposeA ? 1 : 0, transposeB ? 1 : 0));
    return output(backend, outShape, out);
  };
  return [{ kernelName: BatchMatMul, backendName, kernelFunc }];
}
