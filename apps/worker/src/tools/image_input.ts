// Any PNG or JPEG as the network's input, through the same steps a CIFAR-10 test image takes:
// decode to RGB (alpha over white), resize to 32x32 (image_resize.ts), round to 8-bit like the
// dataset's pixels, then @gnet/data's `makeBatch` without augmentation, i.e. exactly the
// normalisation training uses: (v / 255 - CIFAR10_MEAN[c]) / CIFAR10_STD[c], NHWC float32.
import { BATCH_IMAGE_FLOATS, CIFAR10_IMAGE_BYTES, CIFAR10_PLANE_BYTES, CIFAR10_SIDE, makeBatch, type CifarSet } from '@gnet/data';
import { readImage, type RgbImage } from './image_decode.js';
import { resizeRgb } from './image_resize.js';

/** An image file, decoded and reduced to one CIFAR-10 record. */
export interface PreparedImage {
  /** The path as given. */
  readonly file: string;
  readonly format: RgbImage['format'];
  /** Original size in pixels. */
  readonly width: number;
  readonly height: number;
  /** `[3, 32, 32]` planar R, G, B, 0..255: the layout of a CIFAR-10 binary record's pixels. */
  readonly record: Uint8Array;
}

/** Resizes a decoded image to 32x32 and lays it out planar like a CIFAR-10 record. */
export function toCifarRecord(image: Pick<RgbImage, 'width' | 'height' | 'rgb'>): Uint8Array {
  const small = resizeRgb(image.rgb, image.width, image.height, CIFAR10_SIDE, CIFAR10_SIDE);
  const record = new Uint8Array(CIFAR10_IMAGE_BYTES);
  for (let p = 0; p < CIFAR10_PLANE_BYTES; p++) {
    for (let c = 0; c < 3; c++) record[c * CIFAR10_PLANE_BYTES + p] = Math.min(255, Math.max(0, Math.round(small[3 * p + c]!)));
  }
  return record;
}

/** `[n, 32, 32, 3]` normalised float32 of the records, by @gnet/data's `makeBatch` (no augmentation). */
export function normaliseRecords(records: readonly Uint8Array[]): Float32Array {
  const set: CifarSet = {
    count: records.length,
    labels: new Uint8Array(records.length),
    images: new Uint8Array(records.length * CIFAR10_IMAGE_BYTES),
  };
  records.forEach((r, i) => set.images.set(r, i * CIFAR10_IMAGE_BYTES));
  const out = new Float32Array(records.length * BATCH_IMAGE_FLOATS);
  return makeBatch(set, Int32Array.from(records.keys()), out, { augment: null });
}

/**
 * Reads, decodes and resizes every file, in order. All files are read before the caller loads a
 * model, so a bad path fails in milliseconds.
 *
 * @throws ImageInputError naming the first file that cannot be used.
 */
export async function prepareImages(files: readonly string[]): Promise<PreparedImage[]> {
  const prepared: PreparedImage[] = [];
  for (const file of files) {
    const image = await readImage(file);
    prepared.push({ file, format: image.format, width: image.width, height: image.height, record: toCifarRecord(image) });
  }
  return prepared;
}
