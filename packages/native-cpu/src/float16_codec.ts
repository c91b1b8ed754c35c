// fp16 conversion of all-reduce chunks in native code (the addon's F16C loops), for
// @gnet/protocol's setFloat16Codec: the JS loops take ~2.7 ns per element each way and left
// fp16 rounds at 1 Gbit CPU-bound. Typed here structurally, since this layer imports no protocol.
import { loadNativeAddon } from './native_addon.js';

/** The shape of @gnet/protocol's `Float16Codec`. */
export interface NativeFloat16Codec {
  encode(src: Float32Array, dst: Uint8Array): void;
  decode(src: Uint8Array, out: Float32Array, accumulate: boolean): void;
}

/** The native codec, or why there is none (the addon's load reason, or a CPU without F16C). */
export type Float16CodecLoad =
  { readonly codec: NativeFloat16Codec; readonly reason?: undefined } | { readonly codec: null; readonly reason: string };

/**
 * The addon's fp16 codec where the addon loads and the CPU has F16C + AVX2; never throws.
 *
 * @example
 *   const { codec, reason } = nativeFloat16Codec();
 *   setFloat16Codec(codec); // null keeps the JS loops
 */
export function nativeFloat16Codec(): Float16CodecLoad {
  const { addon, reason } = loadNativeAddon();
  if (addon === null) return { codec: null, reason };
  if (!addon.float16Supported()) return { codec: null, reason: 'this CPU has no F16C/AVX2 instructions' };
  return {
    codec: {
      encode: (src, dst) => addon.float16Encode(src, dst),
      decode: (src, out, accumulate) => addon.float16Decode(src, out, accumulate),
    },
  };
}
