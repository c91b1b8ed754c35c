// Loads TensorFlow's native binding for Node (@tensorflow/tfjs-node-gpu, then @tensorflow/tfjs-node),
// both optional dependencies, with dynamic import() so that their absence is an answer, not a crash.
//
// Same tfjs-core: tfjs-node 4.22.0 bundles @tensorflow/tfjs 4.22.0, which depends on exactly
// @tensorflow/tfjs-core 4.22.0, the version we pin; npm then dedupes it to the single copy in the
// root node_modules, and the 'tensorflow' backend that tfjs-node registers on import lands in the
// engine our ops run on. (tfjs-core keeps its engine and kernel registry on globalThis, so even a
// second copy would share them, but its Tensor class would differ and `instanceof` checks across
// the two would fail.) We check both facts after import instead of trusting the lockfile: the
// module must re-export our very `Tensor` class, and our engine must know a 'tensorflow' backend.
import * as tf from '@tensorflow/tfjs-core';
import type { GpuProbe } from './gpu_requirement.js';

/** Native packages in the order we prefer them. */
export const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;
export type NativePackage = (typeof NATIVE_PACKAGES)[number];

/** The outcome of trying one native package. */
export interface NativeAttempt {
  readonly package: NativePackage;
  /** Why it cannot be used; absent when it loaded. */
  readonly error?: string;
  /** The import error's `code` (`ERR_MODULE_NOT_FOUND`, `ERR_DLOPEN_FAILED`), when it had one. */
  readonly errorCode?: string;
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? text;
}

/** Imports one native package and checks it registered 'tensorflow' on our tfjs-core. */
export async function tryNativePackage(pkg: NativePackage): Promise<NativeAttempt> {
  let mod: { Tensor?: unknown; version_core?: unknown };
  try {
    // A string variable, not a literal: the packages are optional and usually absent, so the
    // type checker must not try to resolve them.
    const specifier: string = pkg;
    mod = (await import(specifier)) as typeof mod;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? { package: pkg, error: firstLine(err), errorCode: code } : { package: pkg, error: firstLine(err) };
  }
  if (mod.Tensor !== tf.Tensor) {
    return {
      package: pkg,
      error: `it loaded its own @tensorflow/tfjs-core ${String(mod.version_core)} (ours is ${tf.version_core}); install the ${tf.version_core} release so npm dedupes them`,
    };
  }
  if (tf.findBackendFactory('tensorflow') === null) {
    return { package: pkg, error: "it loaded but registered no 'tensorflow' backend" };
  }
  return { package: pkg };
}

/** Tries each native package in turn, stopping at the first that loads. */
export async function loadNativeBackend(): Promise<{ loaded?: NativePackage; attempts: NativeAttempt[] }> {
  const attempts: NativeAttempt[] = [];
  for (const pkg of NATIVE_PACKAGES) {
    const attempt = await tryNativePackage(pkg);
    attempts.push(attempt);
    if (attempt.error === undefined) return { loaded: pkg, attempts };
  }
  return { attempts };
}

/** Whether a native package is installed, found by resolution only (no import, no side effects). */
export function nativePackageInstalled(): boolean {
  return NATIVE_PACKAGES.some((pkg) => {
    try {
      import.meta.resolve(pkg);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Loads @tensorflow/tfjs-node-gpu only (never the CPU build: that is the silent fallback a GPU
 * request must not get), activates its 'tensorflow' backend and reads whether TensorFlow placed
 * it on a GPU (`isUsingGpuDevice`, set by the binding when its eager context lists a GPU device).
 */
export async function probeNativeGpu(): Promise<GpuProbe> {
  const attempt = await tryNativePackage('@tensorflow/tfjs-node-gpu');
  if (attempt.error !== undefined)
    return attempt.errorCode === undefined ? { loadError: attempt.error } : { loadError: attempt.error, loadErrorCode: attempt.errorCode };
  if (!(await tf.setBackend('tensorflow'))) {
    // tfjs catches the binding's initialisation error, prints it as a warning and returns false.
    return { loadError: "tf.setBackend('tensorflow') returned false (tfjs printed the cause as a warning)" };
  }
  await tf.ready();
  return { isUsingGpuDevice: (tf.backend() as { isUsingGpuDevice?: unknown }).isUsingGpuDevice };
}
