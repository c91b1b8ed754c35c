// KernelScope: runs a backend's registered kernels on TensorInfos and frees the intermediates.
// Follows how tfjs backends compose kernels internally (tfjs-backend-cpu's Conv2DBackpropFilter
// calls `transpose`/`reshape` kernel functions directly): no engine, no tape, no Tensor objects.
import { getKernel, type KernelBackend, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';

/**
 * A short-lived scope inside one kernel function. `run` calls another kernel registered for the
 * same backend; every TensorInfo it returns is disposed by `dispose()` unless handed out with
 * `keep()`. This is what lets a kernel be rebuilt from kernels the backend does fast
 * (e.g. the filter gradient from a transpose and a forward convolution).
 *
 * @example
 *   const scope = new KernelScope('wasm', backend);
 *   try { return scope.keep(scope.run('Transpose', { x }, { perm: [1, 0] })); }
 *   finally { scope.dispose(); }
 */
export class KernelScope {
  private readonly owned: TensorInfo[] = [];

  constructor(
    readonly backendName: string,
    readonly backend: KernelBackend,
  ) {}

  /** Runs kernel `kernelName` of this backend; the result is owned by the scope. */
  run(kernelName: string, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap = {}): TensorInfo {
    const config = getKernel(kernelName, this.backendName);
    if (config === undefined) {
      throw new Error(`KernelScope.run: kernel '${kernelName}' is not registered for backend '${this.backendName}'`);
    }
    const out = config.kernelFunc({ inputs, attrs, backend: this.backend });
    if (Array.isArray(out)) {
      throw new Error(`KernelScope.run: kernel '${kernelName}' returned ${out.length} outputs, expected 1`);
    }
    this.owned.push(out);
    return out;
  }

  /** Makes the scope own `info`, created outside `run` (e.g. with `backend.write`). */
  adopt(info: TensorInfo): TensorInfo {
    this.owned.push(info);
    return info;
  }

  /** A view of `x` with another shape (same element count), owned by the scope. */
  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  /** Takes `info` out of the scope so `dispose()` leaves it alone (the kernel's output). */
  keep(info: TensorInfo): TensorInfo {
    const i = this.owned.lastIndexOf(info);
    if (i >= 0) this.owned.splice(i, 1);
    return info;
  }

  /** Frees every intermediate still owned (reshape views drop one reference each). */
  dispose(): void {
    for (const info of this.owned) this.backend.disposeData(info.dataId);
    this.owned.length = 0;
  }
}
