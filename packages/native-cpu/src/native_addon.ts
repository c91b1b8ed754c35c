// Loads the oneDNN N-API addon that `npm run build:native` builds into native/build/Release, or
// says why it cannot, without throwing: where libdnnl is absent the project must still run on wasm.
// Loaded with createRequire (an ES module cannot import a .node file), as node-gyp-build and
// tfjs-node's own loader do.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** What the addon reports about oneDNN on this machine. */
export interface OneDnnInfo {
  /** oneDNN's version, e.g. '2.6.3'. */
  readonly version: string;
  /** The instruction set oneDNN dispatches to here, e.g. 'avx512_core', 'avx2'. */
  readonly isa: string;
  /** oneDNN's CPU threading runtime: 'omp' on Debian (then `setNumThreads` works), 'tbb', 'seq', ... */
  readonly cpuRuntime: string;
  /** Threads oneDNN's next call from this JS thread may use (OpenMP's max threads; 0 if not OpenMP). */
  readonly maxThreads: number;
}

/** The addon's primitive cache (one per JS thread). */
export interface OneDnnCacheStats {
  readonly size: number;
  readonly capacity: number;
  readonly hits: number;
  readonly misses: number;
}

/**
 * The addon's functions. All are synchronous and work on the given arrays in place (zero copy);
 * a convolution blocks the calling thread for its whole run (0.1-1 s for a large one).
 *
 * `shape` is 15 int32 values (see `convShape` in conv_shape.ts): n, h, w, cin, oh, ow, cout, kh,
 * kw, strideH, strideW, padTop, padLeft, padBottom, padRight. Activations are NHWC, filters HWIO
 * (TF.js's layouts); every array must have exactly the length the shape implies, or the call
 * throws an Error with `code` 'ONEDNN_BAD_ARGUMENT' ('ONEDNN_FAILED' when oneDNN itself fails).
 */
export interface OneDnnAddon {
  /** y `[n, oh, ow, cout]` = relu?(conv(x `[n, h, w, cin]`, filter `[kh, kw, cin, cout]`) + bias? `[cout]`). */
  conv2dForward(shape: Int32Array, x: Float32Array, filter: Float32Array, bias: Float32Array | null, relu: boolean, y: Float32Array): void;
  /** dx `[n, h, w, cin]` from dy `[n, oh, ow, cout]` and filter `[kh, kw, cin, cout]`. */
  conv2dBackwardData(shape: Int32Array, dy: Float32Array, filter: Float32Array, dx: Float32Array): void;
  /** dw `[kh, kw, cin, cout]` from x `[n, h, w, cin]` and dy `[n, oh, ow, cout]`. */
  conv2dBackwardWeights(shape: Int32Array, x: Float32Array, dy: Float32Array, dw: Float32Array): void;
  /**
   * y `[n, oh, ow, c]` = the max (`max` true) or average of each window of x `[n, h, w, c]`.
   * `shape` is 14 int32 values (see `poolShape` in pool_shape.ts): n, h, w, c, oh, ow, kh, kw,
   * strideH, strideW, padTop, padLeft, padBottom, padRight. The average excludes padding (TF's).
   */
  pool2dForward(shape: Int32Array, max: boolean, x: Float32Array, y: Float32Array): void;
  /** dx `[n, h, w, c]` of max pooling from x and dy `[n, oh, ow, c]`: each dy to its window's first max. */
  maxPool2dBackward(shape: Int32Array, x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  /** dx `[n, h, w, c]` of average pooling (padding excluded) from dy `[n, oh, ow, c]`. */
  avgPool2dBackward(shape: Int32Array, dy: Float32Array, dx: Float32Array): void;
  info(): OneDnnInfo;
  /** Sets the OpenMP thread count for calls from this JS thread; returns the count now in effect. */
  setNumThreads(threads: number): number;
  /** The convolutions' primitive cache. */
  cacheStats(): OneDnnCacheStats;
  /** The poolings' primitive cache. */
  poolCacheStats(): OneDnnCacheStats;
  /** Entries kept in each of this JS thread's primitive caches (default 512); shrinking evicts at once. */
  setCacheCapacity(entries: number): void;
  /**
   * out = a op b (op: BINARY_OPS), where each of a and b has out's length or repeats with a period
   * dividing it (a trailing broadcast: a `[c]` vector against `[n, h, w, c]`, or one element).
   */
  binaryOp(op: number, a: Float32Array, b: Float32Array, out: Float32Array): void;
  /** y = max(x, 0); NaN stays NaN. */
  relu(x: Float32Array, y: Float32Array): void;
  /** y = x > 0 ? 1 : alpha; NaN stays NaN. */
  step(x: Float32Array, alpha: number, y: Float32Array): void;
  /**
   * Training-mode BatchNorm of x `[rows, channels]` (NHWC flattened): writes y, and per channel the
   * batch mean, the biased variance and invStd = 1 / sqrt(variance + epsilon).
   */
  batchNormForward(
    channels: number,
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    epsilon: number,
    y: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    invStd: Float32Array,
  ): void;
  /** Its gradients dx `[rows, channels]`, dgamma and dbeta `[channels]` from dy and the forward's x, mean, invStd. */
  batchNormBackward(
    channels: number,
    dy: Float32Array,
    x: Float32Array,
    mean: Float32Array,
    invStd: Float32Array,
    gamma: Float32Array,
    dx: Float32Array,
    dgamma: Float32Array,
    dbeta: Float32Array,
  ): void;
  /**
   * Copies a rows x cols block from src to dst; `geometry` is [srcStride, srcOffset, dstStride,
   * dstOffset, rows, cols] (element r, j sits at r * stride + offset + j). Checked against both lengths.
   */
  copyBlock(src: Float32Array, dst: Float32Array, geometry: Float64Array): void;
  /**
   * out `[batch, m, n]` = a `[batchA, m, k]` x b `[batchB, k, n]` (each stored transposed when its
   * flag is 1) by oneDNN's sgemm; `dims` is [batchA, batchB, m, k, n, transposeA, transposeB], and a
   * batch of 1 is broadcast against the other.
   */
  batchMatMul(a: Float32Array, b: Float32Array, out: Float32Array, dims: Float64Array): void;
  /** Whether this CPU has F16C and AVX2, without which float16Encode / float16Decode throw. */
  float16Supported(): boolean;
  /** dst (exactly 2 bytes per element, any offset) = src as little-endian fp16, nearest even; NaN → sign | 0x7e00. */
  float16Encode(src: Float32Array, dst: Uint8Array): void;
  /** out = (accumulate ? out : 0) + the little-endian fp16 in src (exactly 2 bytes per element). */
  float16Decode(src: Uint8Array, out: Float32Array, accumulate: boolean): void;
}

/** `op` codes of `OneDnnAddon.binaryOp`. */
export const BINARY_OPS = { add: 0, sub: 1, mul: 2, div: 3 } as const;

/** The addon, or why there is none (one sentence naming what to install or run). */
export type AddonLoad = { readonly addon: OneDnnAddon; readonly reason?: undefined } | { readonly addon: null; readonly reason: string };

/** Where node-gyp puts the addon, relative to this file (src/ and dist/ both sit beside native/). */
const ADDON_PATH = fileURLToPath(new URL('../native/build/Release/onednn_addon.node', import.meta.url));

const FUNCTIONS: readonly (keyof OneDnnAddon)[] = [
  'conv2dForward',
  'conv2dBackwardData',
  'conv2dBackwardWeights',
  'pool2dForward',
  'maxPool2dBackward',
  'avgPool2dBackward',
  'info',
  'setNumThreads',
  'cacheStats',
  'poolCacheStats',
  'setCacheCapacity',
  'binaryOp',
  'relu',
  'step',
  'batchNormForward',
  'batchNormBackward',
  'copyBlock',
  'batchMatMul',
  'float16Supported',
  'float16Encode',
  'float16Decode',
];

let loaded: AddonLoad | undefined;

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? text;
}

/** Turns a failed `require` of the addon at `path` into a reason that says what to do. */
export function explainLoadError(err: unknown, path: string): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = firstLine(err);
  if (code === 'MODULE_NOT_FOUND') {
    return `the oneDNN addon is not built (${path} is missing): install libdnnl-dev and run \`npm run build:native -w @gnet/native-cpu\``;
  }
  if (/libdnnl\.so/.test(message)) {
    return `oneDNN is not installed (${message}): install libdnnl2 (Debian: apt-get install libdnnl2)`;
  }
  return `the oneDNN addon failed to load: ${message}`;
}

/** Loads the addon from `path` (tests point it elsewhere); never throws. Not cached. */
export function loadAddonAt(path: string): AddonLoad {
  try {
    const mod = createRequire(import.meta.url)(path) as Partial<OneDnnAddon>;
    const missing = FUNCTIONS.filter((name) => typeof mod[name] !== 'function');
    if (missing.length === 0) return { addon: mod as OneDnnAddon };
    return {
      addon: null,
      reason: `the oneDNN addon is stale (no ${missing.join(', ')}): run \`npm run build:native -w @gnet/native-cpu\``,
    };
  } catch (err) {
    return { addon: null, reason: explainLoadError(err, path) };
  }
}

/**
 * The oneDNN addon for this JS thread, loaded on the first call; never throws. Where it cannot load,
 * `addon` is null and `reason` says why, e.g. "oneDNN is not installed (...): install libdnnl2".
 *
 * @example
 *   const { addon, reason } = loadNativeAddon();
 *   if (addon === null) log.info({ reason }, 'oneDNN backend unavailable');
 */
export function loadNativeAddon(): AddonLoad {
  if (loaded === undefined) shortenOpenMpSpin(process.env);
  loaded ??= loadAddonAt(ADDON_PATH);
  return loaded;
}

/**
 * GNU OpenMP's spin count before a waiting thread sleeps, set unless the user chose one or a wait
 * policy: the default spin burns the cores that a loaded machine's other processes need (one epoch
 * of `bash bench/omp_wait_policy.sh`: 15.0 s quiet and 120.3 s under 4 busy loops by default,
 * 15.1 s and 72.5 s with 20,000). libgomp reads it when the addon loads it, so it is set just before.
 */
export const DEFAULT_GOMP_SPINCOUNT = '20000';

/** Sets `GOMP_SPINCOUNT` in `env` to {@link DEFAULT_GOMP_SPINCOUNT} where neither it nor `OMP_WAIT_POLICY` is set. */
export function shortenOpenMpSpin(env: NodeJS.ProcessEnv): void {
  if (env['GOMP_SPINCOUNT'] === undefined && env['OMP_WAIT_POLICY'] === undefined) env['GOMP_SPINCOUNT'] = DEFAULT_GOMP_SPINCOUNT;
}
