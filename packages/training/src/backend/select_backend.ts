// Picks the TensorFlow.js backend a worker trains on: native TensorFlow when its Node binding loads,
// else the fastest pure backend that can train (wasm with our gradient kernels, else cpu with
// them). Follows tfjs's own priority idea (tfjs-node registers 'tensorflow' above 'wasm' and 'cpu')
// but decides explicitly and says why, because the fallbacks differ ~100x in speed.
import * as tf from '@tensorflow/tfjs-core';
// Gradients are not registered by @tensorflow/tfjs-core's entry point (the @tensorflow/tfjs bundle
// does it); training needs them on every backend.
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import type { Logger } from 'pino';
import { BackendUnavailableError, UnknownBackendError, type RequestedBackend } from './backend_errors.js';
import { loadNativeBackend, nativePackageInstalled, type NativeAttempt } from './native_backend.js';
import { registerTrainingKernels, type PureBackendName } from './training_kernels.js';

/** A backend `selectBackend` can end up on. */
export type BackendName = Exclude<RequestedBackend, 'auto'>;

export interface SelectBackendOptions {
  /** 'auto' (default): tensorflow, else wasm, else cpu. A name forces that backend or throws. */
  requested?: RequestedBackend;
  /** The process's logger; the choice is logged once at info as `{ backend, reason }`. */
  log: Pick<Logger, 'info'>;
  /**
   * Replaces how a pure backend is brought up (default: register our kernels, `tf.setBackend`).
   * For tests of the fallback order only; native loading cannot be replaced.
   */
  pureLoaders?: Partial<Record<PureBackendName, () => Promise<void>>>;
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
  /** Kernels we replaced on a pure backend (empty on 'tensorflow'). */
  kernels: string[];
}

const REQUESTABLE: readonly RequestedBackend[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

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
async function bringUpPure(name: PureBackendName, loaders: SelectBackendOptions['pureLoaders']): Promise<string[]> {
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
 * @example
 *   const { name, reason } = await selectBackend({ requested: 'auto', log });
 */
export async function selectBackend(options: SelectBackendOptions): Promise<BackendSelection> {
  const requested = options.requested ?? 'auto';
  if (!REQUESTABLE.includes(requested)) throw new UnknownBackendError(requested);

  let selection: BackendSelection;
  if (requested === 'tensorflow' || requested === 'auto') {
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
      selection = await selectPure(native.attempts, options.pureLoaders);
    }
  } else {
    let kernels: string[];
    try {
      kernels = await bringUpPure(requested, options.pureLoaders);
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
  options.log.info({ backend: selection.name, reason: selection.reason }, 'backend selected');
  return selection;
}

/** 'auto' after native failed: wasm, else cpu. */
async function selectPure(
  nativeAttempts: NativeAttempt[],
  loaders: SelectBackendOptions['pureLoaders'],
): Promise<BackendSelection> {
  const noNative = `no native binding (${describeAttempts(nativeAttempts)})`;
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
