// Picks the TensorFlow.js backend a worker trains on: native TensorFlow when its Node binding loads,
// else our oneDNN backend (@gnet/native-cpu) where its addon loads, else the fastest pure backend
// that can train (wasm with our gradient kernels, else cpu with them). Follows tfjs's own priority
// idea (tfjs-node registers 'tensorflow' above 'wasm' and 'cpu') but decides explicitly and says
// why, because the fallbacks differ ~100x in speed.
import * as tf from '@tensorflow/tfjs-core';
// Gradients are not registered by @tensorflow/tfjs-core's entry point (the @tensorflow/tfjs bundle
// does it); training needs them on every backend. tfjs-layers' Node bundle registers them and,
// unlike tfjs-core's dist/register_all_gradients.js, loads under plain node (see gradients.ts).
import '@tensorflow/tfjs-layers';
import type { Logger } from 'pino';
import { BackendUnavailableError, UnknownBackendError, type RequestedBackend } from './backend_errors.js';
import { classifyGpuProbe, GpuUnavailableError, type GpuProbe } from './gpu_requirement.js';
import { loadNativeBackend, nativePackageInstalled, probeNativeGpu, type NativeAttempt } from './native_backend.js';
import { registerTrainingKernels, type PureBackendName } from './training_kernels.js';
import { availableParallelism } from 'node:os';

/** A backend `selectBackend` can end up on ('tensorflow-gpu' ends up on 'tensorflow', on a GPU). */
export type BackendName = Exclude<RequestedBackend, 'auto' | 'tensorflow-gpu'>;

export interface SelectBackendOptions {
  /**
   * 'auto' (default): tensorflow, else onednn, else wasm, else cpu. A name forces that backend or
   * throws. 'tensorflow-gpu': native TensorFlow from @tensorflow/tfjs-node-gpu with a GPU device in
   * use, else GpuUnavailableError (never a silent CPU fallback).
   */
  requested?: RequestedBackend;
  /**
   * Threads for 'onednn' (its OpenMP team); default all the cores this process may use. Local
   * workers sharing a machine each get their share (the coordinator passes `--threads`).
   */
  threads?: number;
  /** The process's logger; the choice is logged once at info as `{ backend, reason }`. */
  log: Pick<Logger, 'info'>;
  /**
   * Replaces how 'onednn' or a pure backend is brought up (default: register its kernels,
   * `tf.setBackend`). For tests of the fallback order only (a rejecting 'onednn' loader stands for
   * a machine without libdnnl); native TensorFlow loading cannot be replaced, but what a GPU probe
   * found can ('tensorflow-gpu': a double standing for a GPU machine, which tests cannot have).
   */
  loaders?: Partial<Record<PureBackendName | 'onednn', () => Promise<void>>> & { 'tensorflow-gpu'?: () => Promise<GpuProbe> };
}

export interface BackendSelection {
  /** The backend now active (`tf.getBackend()`). */
  name: BackendName;
  /** One sentence: why this backend, and what was tried before it. */
  reason: string;
  /**
   * Whether a native binding is usable: in 'auto' and 'tensorflow' modes, whether one loaded; when a
   * pure backend is forced, whether one is installed (checked by resolution, not loaded, so its
   * side effects stay out of the process).
   */
  nativeAvailable: boolean;
  /** Each native package tried and why it failed (empty when a pure backend was forced). */
  nativeAttempts: NativeAttempt[];
  /** Kernels we replaced on a pure backend, or that run natively on 'onednn' (empty on 'tensorflow'). */
  kernels: string[];
  /** Threads the backend computes with, where we set them ('onednn'); undefined elsewhere. */
  threads?: number;
}

const REQUESTABLE: readonly RequestedBackend[] = ['auto', 'tensorflow', 'tensorflow-gpu', 'onednn', 'wasm', 'cpu'];

/** Thrown for a `threads` that is not a positive integer. */
export class BadThreadCountError extends Error {
  readonly code = 'BACKEND_BAD_THREADS' as const;
  constructor(readonly threads: unknown) {
    super(`\`threads\` passed to selectBackend must be a positive integer, but got ${String(threads)}`);
    this.name = 'BadThreadCountError';
  }
}

/**
 * Brings up 'onednn' with `threads` OpenMP threads; returns its native kernels, or throws with the
 * reason it cannot (addon not built, libdnnl missing), which names what to install.
 */
async function bringUpOneDnn(
  threads: number,
  loaders: SelectBackendOptions['loaders'],
): Promise<{ kernels: string[]; threads: number; detail: string }> {
  const custom = loaders?.onednn;
  if (custom !== undefined) {
    await custom();
    return { kernels: [], threads, detail: 'oneDNN (test loader)' };
  }
  // Imported on first use, like the pure backends: it loads tfjs-backend-cpu, which registers 'cpu'.
  const { ONEDNN_BACKEND, loadNativeAddon, registerOneDnnBackend } = await import('@gnet/native-cpu');
  const registration = registerOneDnnBackend();
  if (!registration.registered) throw new Error(registration.reason);
  await activate(ONEDNN_BACKEND as BackendName);
  const addon = loadNativeAddon().addon;
  const inEffect = addon === null ? threads : addon.setNumThreads(threads);
  const { version, isa } = registration.info;
  return {
    kernels: [...registration.nativeKernels],
    threads: inEffect,
    detail: `oneDNN ${version} (${isa}, ${inEffect} thread${inEffect === 1 ? '' : 's'})`,
  };
}

function describeAttempts(attempts: readonly NativeAttempt[]): string {
  return attempts.map((a) => `${a.package}: ${a.error ?? 'loaded'}`).join('; ');
}

async function activate(name: BackendName): Promise<void> {
  if (!(await tf.setBackend(name))) {
    // tfjs catches the initialisation error, prints it as a warning and returns false.
    throw new Error(`tf.setBackend('${name}') returned false (tfjs printed the cause as a warning)`);
  }
  await tf.ready();
}

/**
 * The pure backends' packages, imported on first use so that importing @gnet/training registers no
 * backend (tfjs would otherwise make wasm, priority 2, the default for code that never chose).
 */
const PURE_MODULES: Record<PureBackendName, () => Promise<unknown>> = {
  wasm: () => import('@tensorflow/tfjs-backend-wasm'),
  cpu: () => import('@tensorflow/tfjs-backend-cpu'),
};

/** Brings up a pure backend with our training kernels; returns the kernels replaced. */
async function bringUpPure(name: PureBackendName, loaders: SelectBackendOptions['loaders']): Promise<string[]> {
  const custom = loaders?.[name];
  if (custom !== undefined) {
    await custom();
    return [];
  }
  await PURE_MODULES[name]();
  const kernels = registerTrainingKernels(name);
  await activate(name);
  return kernels;
}

/**
 * Selects and activates the backend to train on, registering our fast gradient kernels on the
 * pure backends, and logs the choice once.
 *
 * @throws UnknownBackendError when `requested` is not a known name
 * @throws BackendUnavailableError when a named backend cannot be loaded
 * @throws GpuUnavailableError when 'tensorflow-gpu' finds no GPU in use, naming what it found
 * @example
 *   const { name, reason } = await selectBackend({ requested: 'auto', log });
 */
export async function selectBackend(options: SelectBackendOptions): Promise<BackendSelection> {
  const requested = options.requested ?? 'auto';
  if (!REQUESTABLE.includes(requested)) throw new UnknownBackendError(requested);
  const threads = options.threads ?? availableParallelism();
  if (!Number.isSafeInteger(threads) || threads < 1) throw new BadThreadCountError(options.threads);

  let selection: BackendSelection;
  if (requested === 'tensorflow-gpu') {
    selection = await selectTensorflowGpu(options.loaders);
  } else if (requested === 'tensorflow' || requested === 'auto') {
    const native = await loadNativeBackend();
    if (native.loaded !== undefined) {
      await activate('tensorflow');
      const reason =
        requested === 'tensorflow'
          ? `requested; native TensorFlow via ${native.loaded}`
          : `native TensorFlow via ${native.loaded} is the fastest backend available`;
      selection = { name: 'tensorflow', reason, nativeAvailable: true, nativeAttempts: native.attempts, kernels: [] };
    } else if (requested === 'tensorflow') {
      throw new BackendUnavailableError('tensorflow', describeAttempts(native.attempts));
    } else {
      selection = await selectAfterNative(native.attempts, threads, options.loaders);
    }
  } else if (requested === 'onednn') {
    let up: Awaited<ReturnType<typeof bringUpOneDnn>>;
    try {
      up = await bringUpOneDnn(threads, options.loaders);
    } catch (err) {
      throw new BackendUnavailableError('onednn', err instanceof Error ? err.message : String(err), { cause: err });
    }
    selection = {
      name: 'onednn',
      reason: `requested; ${up.detail}`,
      nativeAvailable: nativePackageInstalled(),
      nativeAttempts: [],
      kernels: up.kernels,
      threads: up.threads,
    };
  } else {
    let kernels: string[];
    try {
      kernels = await bringUpPure(requested, options.loaders);
    } catch (err) {
      throw new BackendUnavailableError(requested, err instanceof Error ? err.message : String(err), { cause: err });
    }
    selection = {
      name: requested,
      reason: `requested; ${requested === 'wasm' ? 'wasm (XNNPACK)' : 'cpu'} with our conv and max-pool gradient kernels`,
      nativeAvailable: nativePackageInstalled(),
      nativeAttempts: [],
      kernels,
    };
  }
  options.log.info(
    selection.threads === undefined
      ? { backend: selection.name, reason: selection.reason }
      : { backend: selection.name, reason: selection.reason, threads: selection.threads },
    'backend selected',
  );
  return selection;
}

/** 'tensorflow-gpu': tfjs-node-gpu with a GPU device in use, or GpuUnavailableError. */
async function selectTensorflowGpu(loaders: SelectBackendOptions['loaders']): Promise<BackendSelection> {
  const probe = await (loaders?.['tensorflow-gpu'] ?? probeNativeGpu)();
  const verdict = classifyGpuProbe(probe);
  if (!verdict.ok) throw new GpuUnavailableError(verdict.found, verdict.detail);
  return {
    name: 'tensorflow',
    // PTX JIT: libtensorflow 2.9.1 carries kernels for the GPUs of its day; newer ones compile PTX
    // at first use, so a slow start there is expected, not a fallback.
    reason:
      'requested on a GPU; native TensorFlow via @tensorflow/tfjs-node-gpu with a GPU device in use (on GPUs newer than its CUDA 11.2 build the first steps are slow while CUDA compiles PTX)',
    nativeAvailable: true,
    nativeAttempts: [{ package: '@tensorflow/tfjs-node-gpu' }],
    kernels: [],
  };
}

/** 'auto' after native TensorFlow failed: onednn, else wasm, else cpu. */
async function selectAfterNative(
  nativeAttempts: NativeAttempt[],
  threads: number,
  loaders: SelectBackendOptions['loaders'],
): Promise<BackendSelection> {
  const noTf = `no native TensorFlow (${describeAttempts(nativeAttempts)})`;
  let oneDnnWhy: string;
  try {
    const up = await bringUpOneDnn(threads, loaders);
    return {
      name: 'onednn',
      reason: `${noTf}; ${up.detail} is the fastest CPU backend available`,
      nativeAvailable: false,
      nativeAttempts,
      kernels: up.kernels,
      threads: up.threads,
    };
  } catch (err) {
    oneDnnWhy = err instanceof Error ? err.message : String(err);
  }
  return selectPure(nativeAttempts, `${noTf}; no oneDNN: ${oneDnnWhy}`, loaders);
}

/** 'auto' after native TensorFlow and oneDNN failed: wasm, else cpu. */
async function selectPure(
  nativeAttempts: NativeAttempt[],
  noNative: string,
  loaders: SelectBackendOptions['loaders'],
): Promise<BackendSelection> {
  try {
    const kernels = await bringUpPure('wasm', loaders);
    return {
      name: 'wasm',
      reason: `${noNative}; wasm (XNNPACK, SIMD) with our conv and max-pool gradient kernels is the fastest pure backend that can train`,
      nativeAvailable: false,
      nativeAttempts,
      kernels,
    };
  } catch (err) {
    const wasmWhy = err instanceof Error ? err.message : String(err);
    let kernels: string[];
    try {
      kernels = await bringUpPure('cpu', loaders);
    } catch (cpuErr) {
      throw new BackendUnavailableError(
        'auto',
        `${noNative}; wasm: ${wasmWhy}; cpu: ${cpuErr instanceof Error ? cpuErr.message : String(cpuErr)}`,
        { cause: cpuErr },
      );
    }
    return {
      name: 'cpu',
      reason: `${noNative}; wasm failed (${wasmWhy}); cpu with our conv gradient kernels`,
      nativeAvailable: false,
      nativeAttempts,
      kernels,
    };
  }
}
