// The 'tensorflow-gpu' request: native TensorFlow on a GPU, or a loud failure. tfjs-node-gpu falls
// back to the CPU without a word when CUDA or cuDNN cannot be loaded: libtensorflow 2.9.1 opens
// them lazily, logs "Could not load dynamic library 'libcudnn.so.8'" on stderr and registers no
// GPU device, and the binding then places every op on the host CPU (tfjs-node's
// binding/tfjs_backend.cc picks the last "GPU" device of the eager context's list, else the CPU,
// and reports which as `isUsingGpuDevice`). A GPU worker silently training ~50x slower is worse
// than one that stops, so this module turns what the probe found into a verdict, and a failed
// verdict into a typed error naming what was found and what to check.

/** What a probe of @tensorflow/tfjs-node-gpu found; produced by `probeNativeGpu` (or a test double). */
export interface GpuProbe {
  /** Why the package could not be used (its loader's first line); absent when it loaded. */
  readonly loadError?: string;
  /** The load error's `code` (e.g. `ERR_MODULE_NOT_FOUND`), when it had one. */
  readonly loadErrorCode?: string;
  /** The active 'tensorflow' backend's `isUsingGpuDevice` (NodeJSKernelBackend); read only after a load. */
  readonly isUsingGpuDevice?: unknown;
}

/** Why no GPU is in use, as a stable word for logs and tests. */
export type GpuFinding =
  /** @tensorflow/tfjs-node-gpu is not installed. */
  | 'package-missing'
  /** It is installed but its native part (addon, libtensorflow, CUDA) did not load. */
  | 'native-library-missing'
  /** It loaded, but did not give us a usable 'tensorflow' backend (e.g. its own tfjs-core). */
  | 'load-failed'
  /** It loaded, and TensorFlow placed its ops on the CPU: no GPU device was registered. */
  | 'no-gpu-device';

export type GpuVerdict = { readonly ok: true } | { readonly ok: false; readonly found: GpuFinding; readonly detail: string };

/** The libraries libtensorflow 2.9.1 (in @tensorflow/tfjs-node-gpu 4.22) was built against. */
export const GPU_LIBRARIES =
  'CUDA 11.2 and cuDNN 8.1 (libcudart.so.11.0, libcublas.so.11, libcudnn.so.8), which libtensorflow 2.9.1 in @tensorflow/tfjs-node-gpu 4.22 was built against';

/** A dynamic loader's complaint: a shared object, the addon file, or a CUDA library by name. */
const NATIVE_LOAD_FAILURE = /\.so(\.\d+)*\b|shared object|tfjs_binding\.node|dlopen|libtensorflow|libcud|libcublas/i;
const PACKAGE_NOT_FOUND = /Cannot find (package|module) '@tensorflow\/tfjs-node-gpu'/;

/**
 * Decides from a probe whether a GPU is in use (pure: no I/O).
 *
 * @example
 *   classifyGpuProbe({ isUsingGpuDevice: false }); // { ok: false, found: 'no-gpu-device', ... }
 */
export function classifyGpuProbe(probe: GpuProbe): GpuVerdict {
  if (probe.loadError !== undefined) {
    const detail = probe.loadError;
    // Missing only when the package itself is named: a dependency of it that is missing is a
    // broken install ('load-failed'), and dlopen failures carry ERR_DLOPEN_FAILED.
    if (PACKAGE_NOT_FOUND.test(detail)) return { ok: false, found: 'package-missing', detail };
    if (probe.loadErrorCode === 'ERR_DLOPEN_FAILED' || NATIVE_LOAD_FAILURE.test(detail))
      return { ok: false, found: 'native-library-missing', detail };
    return { ok: false, found: 'load-failed', detail };
  }
  if (probe.isUsingGpuDevice === true) return { ok: true };
  const detail =
    probe.isUsingGpuDevice === false
      ? 'the binding reports isUsingGpuDevice = false: TensorFlow registered no GPU device and runs on the CPU'
      : `the binding did not report a device (isUsingGpuDevice = ${String(probe.isUsingGpuDevice)})`;
  return { ok: false, found: 'no-gpu-device', detail };
}

/** What to check for each finding: the fix, in the words of the person at the machine. */
const WHAT_TO_CHECK: Record<GpuFinding, string> = {
  'package-missing':
    'install it (npm install @tensorflow/tfjs-node-gpu@4.22.0, an optional dependency of @gnet/training whose install step downloads libtensorflow; it cannot install without network access), or run the GPU worker image',
  'native-library-missing': `check that ${GPU_LIBRARIES} are installed and on LD_LIBRARY_PATH (ldconfig -p | grep -E 'libcudart|libcudnn'), and that the package's own libtensorflow was downloaded at install time (npm rebuild @tensorflow/tfjs-node-gpu)`,
  'load-failed': 'reinstall @tensorflow/tfjs-node-gpu 4.22.0 so that npm dedupes its @tensorflow/tfjs-core with ours',
  'no-gpu-device': `check that nvidia-smi lists a GPU inside this container (Kubernetes: resources.limits nvidia.com/gpu; Slurm: --gpus), that CUDA_VISIBLE_DEVICES is not empty, and that ${GPU_LIBRARIES} are on LD_LIBRARY_PATH: when libcudnn.so.8 or libcudart.so.11.0 is missing (a CUDA 12 host without the CUDA 11 libraries) TensorFlow skips the GPU and says so only in its stderr log ("Could not load dynamic library")`,
};

const WHAT_WAS_FOUND: Record<GpuFinding, string> = {
  'package-missing': '@tensorflow/tfjs-node-gpu is not installed',
  'native-library-missing': '@tensorflow/tfjs-node-gpu is installed but its native libraries did not load',
  'load-failed': '@tensorflow/tfjs-node-gpu loaded but gave no usable backend',
  'no-gpu-device': '@tensorflow/tfjs-node-gpu loaded but TensorFlow found no GPU device',
};

/**
 * A GPU was demanded (`--backend tensorflow-gpu`, `--require-gpu`) and none is in use. A
 * configuration error of the machine: the worker stops at start-up rather than train on the CPU.
 */
export class GpuUnavailableError extends Error {
  readonly code = 'BACKEND_NO_GPU' as const;

  /**
   * @param found what the probe found
   * @param detail the loader's message or the binding's report
   */
  constructor(
    readonly found: GpuFinding,
    readonly detail: string,
  ) {
    super(
      `Backend 'tensorflow-gpu' requested from selectBackend found no GPU: ${WHAT_WAS_FOUND[found]} (${detail}); ${WHAT_TO_CHECK[found]}`,
    );
    this.name = 'GpuUnavailableError';
  }
}
