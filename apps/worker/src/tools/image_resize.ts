// Resizing RGB images, separably, one axis at a time, with a filter chosen per axis:
//   shrinking: area averaging (each output pixel is the mean of the source area it covers,
//     fractional edge pixels weighted by their overlap: OpenCV's INTER_AREA, PIL's BOX). Every
//     source pixel counts, so a 500-pixel photo shrunk to 32 does not alias; CIFAR-10's images were
//     themselves downsampled from larger photos. tf.image.resizeBilinear has no antialiasing: it
//     reads only the 2x2 source pixels nearest each output centre and skips the rest.
//   enlarging: bilinear with half-pixel centres (align_corners false, as OpenCV and PIL), which
//     is smooth where area averaging would give nearest-neighbour blocks.
//   same size: a copy.

/** One source pixel's weight in an output pixel. */
export interface Tap {
  readonly index: number;
  readonly weight: number;
}

/**
 * For each of `dstLen` output positions, the source positions (of `srcLen`) it reads and their
 * weights, which sum to 1.
 */
export function axisTaps(srcLen: number, dstLen: number): Tap[][] {
  if (!(Number.isInteger(srcLen) && srcLen >= 1 && Number.isInteger(dstLen) && dstLen >= 1)) {
    throw new RangeError(`\`srcLen\` and \`dstLen\` passed to \`axisTaps\` must be positive integers, but got ${srcLen} and ${dstLen}`);
  }
  const scale = srcLen / dstLen;
  return Array.from({ length: dstLen }, (_, i) => {
    if (srcLen === dstLen) return [{ index: i, weight: 1 }];
    if (srcLen > dstLen) {
      // Area: output i covers source [i * scale, (i + 1) * scale).
      const lo = i * scale;
      const hi = (i + 1) * scale;
      const taps: Tap[] = [];
      for (let j = Math.floor(lo); j < Math.min(srcLen, Math.ceil(hi)); j++) {
        const overlap = Math.min(hi, j + 1) - Math.max(lo, j);
        if (overlap > 1e-12) taps.push({ index: j, weight: overlap / scale });
      }
      return taps;
    }
    // Bilinear: output centre i + 0.5 maps to source coordinate x (pixel centres at j + 0.5).
    const x = Math.min(Math.max((i + 0.5) * scale - 0.5, 0), srcLen - 1);
    const j0 = Math.floor(x);
    const f = x - j0;
    return f === 0
      ? [{ index: j0, weight: 1 }]
      : [
          { index: j0, weight: 1 - f },
          { index: j0 + 1, weight: f },
        ];
  });
}

/**
 * Resizes `rgb` (`[height, width, 3]` interleaved) to `[outHeight, outWidth, 3]`, as float64 values
 * in the source's range (0..255 for 8-bit input): rows first, then columns. Float64 throughout, so
 * rounding the result to 8 bits does not depend on an intermediate float32 rounding.
 */
export function resizeRgb(rgb: ArrayLike<number>, width: number, height: number, outWidth: number, outHeight: number): Float64Array {
  if (rgb.length !== width * height * 3) {
    throw new RangeError(
      `\`rgb\` passed to \`resizeRgb\` must hold ${width}x${height}x3 = ${width * height * 3} values, but holds ${rgb.length}`,
    );
  }
  const xTaps = axisTaps(width, outWidth);
  const yTaps = axisTaps(height, outHeight);
  // Horizontal pass: [height, outWidth, 3] in float64 (no rounding between the passes).
  const rows = new Float64Array(height * outWidth * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outWidth; x++) {
      const offset = (y * outWidth + x) * 3;
      for (const { index, weight } of xTaps[x]!) {
        const s = (y * width + index) * 3;
        rows[offset]! += rgb[s]! * weight;
        rows[offset + 1]! += rgb[s + 1]! * weight;
        rows[offset + 2]! += rgb[s + 2]! * weight;
      }
    }
  }
  const out = new Float64Array(outHeight * outWidth * 3);
  const rowFloats = outWidth * 3;
  for (let y = 0; y < outHeight; y++) {
    const taps = yTaps[y]!;
    for (let k = 0; k < rowFloats; k++) {
      let sum = 0;
      for (const { index, weight } of taps) sum += rows[index * rowFloats + k]! * weight;
      out[y * rowFloats + k] = sum;
    }
  }
  return out;
}
