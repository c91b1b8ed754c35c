// Scalar conversions between float32 and the 16-bit wire formats: IEEE 754 binary16 (fp16) and
// bfloat16 (the top half of a float32), both rounding to nearest, ties to even, as numpy's
// `astype(np.float16)` and PyTorch's `tensor.to(torch.bfloat16)` do.

// One shared scratch word to read a float32's bits without allocating.
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** Bits of `x` as a float32 (rounded to fp32 first, as Float32Array stores it). */
export function float32Bits(x: number): number {
  scratchF32[0] = x;
  return scratchU32[0]!;
}

/** The float32 whose bits are `bits` (a uint32). */
export function float32FromBits(bits: number): number {
  scratchU32[0] = bits >>> 0;
  return scratchF32[0]!;
}

/** |x| bits from which a float32 is a normal fp16 (2^-14). */
const FP16_MIN_NORMAL_BITS = 0x38800000;
/** |x| bits from which a float32 rounds to fp16 Infinity (65520 = 65504 + half an ulp). */
const FP16_OVERFLOW_BITS = 0x477ff000;
/** (127 - 15) << 23: moves a float32 exponent to fp16's bias. */
const EXPONENT_REBIAS = 0x38000000;

/**
 * fp16 bits for the float32 bits `bits`, rounding to nearest even. Overflow gives ±Infinity,
 * underflow ±0 or a subnormal, NaN stays a (quiet) NaN.
 *
 * The common case, a float32 that lands on a normal fp16, is a few integer operations without
 * branches on the rounding: rebias the exponent, add just under half an ulp plus the kept
 * mantissa's lowest bit (ties to even), shift; a carry out of the mantissa bumps the exponent,
 * which is exactly right. fp16 encoding was the bottleneck of fp16 all-reduce rounds at 1 Gbit
 * (bench/cluster_allreduce.bench.ts). Everything else takes the general path, against which a
 * test checks this one.
 */
export function float16BitsFromFloat32Bits(bits: number): number {
  const abs = bits & 0x7fffffff;
  if (abs >= FP16_MIN_NORMAL_BITS && abs < FP16_OVERFLOW_BITS) {
    return ((bits >>> 16) & 0x8000) | ((abs - EXPONENT_REBIAS + 0xfff + ((abs >>> 13) & 1)) >>> 13);
  }
  return float16BitsFromFloat32BitsGeneral(bits);
}

/** `float16BitsFromFloat32Bits` for every input, one case at a time (the reference for the fast path). */
export function float16BitsFromFloat32BitsGeneral(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal fp16: value = m * 2^-24 with m = (1.mantissa) * 2^(halfExponent + 10 - 24 + 14).
    if (halfExponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - halfExponent; // 14..24
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half += 1;
    return sign | half;
  }
  let half = (halfExponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa bumps the exponent, which is exactly right (up to Infinity).
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half += 1;
  return sign | half;
}

/** fp16 bits for `x`. */
export function float32ToFloat16Bits(x: number): number {
  return float16BitsFromFloat32Bits(float32Bits(x));
}

/** The number an fp16 bit pattern stands for (exact: every fp16 is a float32). */
export function float16BitsToFloat32(half: number): number {
  const sign = half & 0x8000 ? -1 : 1;
  const exponent = (half >>> 10) & 0x1f;
  const mantissa = half & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** bfloat16 bits for the float32 bits `bits`, rounding to nearest even; NaN stays a quiet NaN. */
export function bfloat16BitsFromFloat32Bits(bits: number): number {
  const u = bits >>> 0;
  if ((u & 0x7fffffff) > 0x7f800000) return (u >>> 16) | 0x40;
  // Add just under half an ulp, plus one when the kept half is odd (ties to even). Without NaNs
  // the largest input is -Infinity, 0xff800000, so the sum stays below 2^32 and >>> cannot wrap.
  return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
}

/** bfloat16 bits for `x`. */
export function float32ToBfloat16Bits(x: number): number {
  return bfloat16BitsFromFloat32Bits(float32Bits(x));
}

/** The number a bfloat16 bit pattern stands for (exact). */
export function bfloat16BitsToFloat32(bits: number): number {
  return float32FromBits((bits & 0xffff) << 16);
}

let float16Table: Float32Array | undefined;

/**
 * All 65536 fp16 values as float32, built on first use (256 KiB): decoding a chunk is then one
 * table lookup per element.
 */
export function float16Table32(): Float32Array {
  if (float16Table === undefined) {
    float16Table = new Float32Array(0x10000);
    for (let half = 0; half < 0x10000; half += 1) float16Table[half] = float16BitsToFloat32(half);
  }
  return float16Table;
}
