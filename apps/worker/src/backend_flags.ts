// The backend flags both worker commands take (`worker:train` and `worker:serve`): the recipe's
// `--backend` row, `--require-gpu` folded into it, and oneDNN's `--threads`.
import { z } from 'zod';
import { ConfigError, setting } from '@gnet/recipe';

/** The backends `--require-gpu` turns into 'tensorflow-gpu'; the others run on the CPU and conflict with it. */
const GPU_CAPABLE = new Set<string>(['auto', 'tensorflow', 'tensorflow-gpu']);

/** GNET_REQUIRE_GPU as a boolean: unset or empty is false; anything but 1/true/0/false is refused. */
export function requireGpuFromEnv(value: string | undefined): boolean {
  if (value === undefined || value === '' || value === '0' || value === 'false') return false;
  if (value === '1' || value === 'true') return true;
  throw new ConfigError(`GNET_REQUIRE_GPU must be 1, true, 0 or false, but got ${JSON.stringify(value)}`);
}

/**
 * `--require-gpu` folded into the backend, so that one value reaches selectBackend: with it,
 * 'auto' and 'tensorflow' become 'tensorflow-gpu'; a CPU backend named alongside it is a conflict.
 */
export function resolveBackend(backend: string, requireGpu: boolean): string {
  if (!requireGpu) return backend;
  if (GPU_CAPABLE.has(backend)) return 'tensorflow-gpu';
  throw new ConfigError(
    `--require-gpu (native TensorFlow on a GPU) conflicts with --backend ${backend}, a CPU backend; drop one of the two`,
  );
}

/** Folded into `backend` by {@link resolveBackend}: no config field of its own. */
export const REQUIRE_GPU = setting({
  flags: '--require-gpu',
  help: 'stop at start-up, naming what is missing, unless native TensorFlow runs on a GPU (= --backend tensorflow-gpu) (env GNET_REQUIRE_GPU=1)',
  schema: undefined,
  // A GPU worker image on a node whose CUDA libraries do not match would otherwise train on the CPU, ~50x slower, without a word.
  default: (ctx) => requireGpuFromEnv(ctx.env['GNET_REQUIRE_GPU']),
});

/** oneDNN's threads; 0: every core this process may use. */
export const THREADS = setting({
  flags: '--threads <n>',
  help: "oneDNN backend's threads (0: all cores; local workers get their share) (env GNET_THREADS)",
  schema: z.number().int().min(0).max(1024),
  number: true,
  env: 'GNET_THREADS',
  default: 0,
});
