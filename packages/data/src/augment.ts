// Batch assembly for CIFAR-10 training: planar uint8 records -> normalised NHWC float32, with the
// standard augmentation of the ResNet/GoogLeNet-on-CIFAR recipes, following torchvision semantics:
// RandomCrop(32, padding=crop) (zero padding of the raw image), RandomHorizontalFlip(p=0.5),
// ToTensor, Normalize(mean, std), then Cutout (DeVries & Taylor 2017, arXiv:1708.04552), in that order.
import type { CifarSet } from './cifar10_reader.js';
import { CIFAR10_IMAGE_BYTES, CIFAR10_PLANE_BYTES, CIFAR10_SIDE } from './cifar10_layout.js';
import { DataArgumentError } from './errors.js';
import type { Rng } from './rng.js';
import { describe } from './validate.js';

/** Per-channel mean of the CIFAR-10 training set, as a fraction of 255 (R, G, B). */
export const CIFAR10_MEAN = [0.4914, 0.4822, 0.4465] as const;
/** Per-channel standard deviation of the CIFAR-10 training set, as a fraction of 255 (R, G, B). */
export const CIFAR10_STD = [0.247, 0.2435, 0.2616] as const;

/** Augmentation settings; `null` in {@link MakeBatchOptions} turns augmentation off (evaluation). */
export interface AugmentOptions {
  /** Random-crop padding in pixels (4 in the usual recipe); 0 = no crop. */
  crop: number;
  /** Horizontal flip with probability 0.5. */
  flip: boolean;
  /** Cutout square side in pixels (16 in DeVries & Taylor for CIFAR-10); 0 = off. */
  cutout: number;
}

/** Options of {@link makeBatch}. */
export interface MakeBatchOptions {
  augment: AugmentOptions | null;
  /** Source of the random crop offsets, flips and cutout centres; required when augmenting. */
  rng?: Rng;
}

/** Number of floats per output image: 32 * 32 * 3. */
export const BATCH_IMAGE_FLOATS = CIFAR10_IMAGE_BYTES;

/**
 * Normalisation lookup table of channel c, [256]: entry v is (v / 255 - mean[c]) / std[c], computed
 * in float64 and stored as float32, so each output is the exact value rounded once.
 */
function channelLut(c: number): Float32Array {
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = (v / 255 - CIFAR10_MEAN[c]!) / CIFAR10_STD[c]!;
  return lut;
}
const LUT_R = channelLut(0);
const LUT_G = channelLut(1);
const LUT_B = channelLut(2);

/**
 * Writes images `indices` of `set` into `out` as normalised NHWC float32, [n, 32, 32, 3], augmenting
 * each image independently when `opts.augment` is set. Returns the first n * 3072 floats of `out`
 * (`out` itself when it is exactly that long), so one buffer can serve a short last batch.
 *
 * Per image, in this order: crop offsets (dy, dx) = (rng.int(2p + 1) - p, rng.int(2p + 1) - p) when
 * crop p > 0; flip when flip is on and rng.next() < 0.5; cutout centre (rng.int(32), rng.int(32)) when
 * cutout L > 0. Pixels the crop brings in from the padding are raw 0, so they normalise to
 * -mean[c] / std[c] (as torchvision pads before ToTensor/Normalize); cutout writes 0 (= the mean) over
 * rows and columns [centre - floor(L / 2), centre - floor(L / 2) + L) clipped to the image, as in
 * DeVries & Taylor's code for even L. No allocation per image.
 *
 * @example
 * const x = new Float32Array(128 * BATCH_IMAGE_FLOATS);
 * makeBatch(train, batchIndices, x, { augment: { crop: 4, flip: true, cutout: 0 }, rng });
 */
export function makeBatch(set: CifarSet, indices: ArrayLike<number>, out: Float32Array, opts: MakeBatchOptions): Float32Array {
  const n = indices.length;
  checkOut(out.length, n * BATCH_IMAGE_FLOATS, 'out', 'makeBatch', 'a Float32Array');
  const aug = opts.augment;
  const rng = opts.rng;
  let crop = 0;
  let flip = false;
  let cutout = 0;
  if (aug !== null) {
    crop = requireIntIn(aug.crop, 'augment.crop', 0, CIFAR10_SIDE);
    cutout = requireIntIn(aug.cutout, 'augment.cutout', 0, 2 * CIFAR10_SIDE);
    if (typeof aug.flip !== 'boolean') {
      throw new DataArgumentError(
        'augment.flip',
        `\`augment.flip\` passed to \`makeBatch\` must be a boolean, but got ${describe(aug.flip)}`,
      );
    }
    flip = aug.flip;
    if (rng === undefined && (crop > 0 || flip || cutout > 0)) {
      throw new DataArgumentError('rng', '`rng` passed to `makeBatch` must be an Rng when `augment` is set, but got undefined');
    }
  }
  const images = set.images;
  const S = CIFAR10_SIDE;
  const P = CIFAR10_PLANE_BYTES;
  const lutR = LUT_R;
  const lutG = LUT_G;
  const lutB = LUT_B;
  const padR = lutR[0]!;
  const padG = lutG[0]!;
  const padB = lutB[0]!;
  for (let i = 0; i < n; i++) {
    const index = indices[i]!;
    if (!(Number.isInteger(index) && index >= 0 && index < set.count)) {
      throw new DataArgumentError(
        `indices[${i}]`,
        `\`indices[${i}]\` passed to \`makeBatch\` must be an integer in [0, ${set.count}), but got ${index}`,
      );
    }
    const src = index * CIFAR10_IMAGE_BYTES;
    let offset = i * BATCH_IMAGE_FLOATS;
    let dy = 0;
    let dx = 0;
    let mirror = false;
    if (crop > 0) {
      dy = rng!.int(2 * crop + 1) - crop;
      dx = rng!.int(2 * crop + 1) - crop;
    }
    if (flip) mirror = rng!.next() < 0.5;
    if (dy === 0 && dx === 0 && !mirror) {
      // Fast path (evaluation, or no shift drawn): a straight planar -> interleaved gather.
      for (let p = src, end = src + P; p < end; p++, offset += 3) {
        out[offset] = lutR[images[p]!]!;
        out[offset + 1] = lutG[images[p + P]!]!;
        out[offset + 2] = lutB[images[p + 2 * P]!]!;
      }
    } else {
      // Output pixel (y, x) reads source (y + dy, sx) with sx = x + dx, or sx = (S - 1 - x) + dx when
      // mirrored: the flip mirrors the already-cropped image (crop, then flip, as in torchvision).
      // Columns whose sx falls outside the image are padding: x < xa or x >= xb.
      const xa = mirror ? Math.max(0, dx) : Math.max(0, -dx);
      const xb = mirror ? Math.min(S, S + dx) : Math.min(S, S - dx);
      for (let y = 0; y < S; y++) {
        const sy = y + dy;
        if (sy < 0 || sy >= S) {
          for (let x = 0; x < S; x++, offset += 3) {
            out[offset] = padR;
            out[offset + 1] = padG;
            out[offset + 2] = padB;
          }
          continue;
        }
        let x = 0;
        for (; x < xa; x++, offset += 3) {
          out[offset] = padR;
          out[offset + 1] = padG;
          out[offset + 2] = padB;
        }
        if (mirror) {
          for (let p = src + sy * S + (S - 1 - xa + dx); x < xb; x++, p--, offset += 3) {
            out[offset] = lutR[images[p]!]!;
            out[offset + 1] = lutG[images[p + P]!]!;
            out[offset + 2] = lutB[images[p + 2 * P]!]!;
          }
        } else {
          for (let p = src + sy * S + xa + dx; x < xb; x++, p++, offset += 3) {
            out[offset] = lutR[images[p]!]!;
            out[offset + 1] = lutG[images[p + P]!]!;
            out[offset + 2] = lutB[images[p + 2 * P]!]!;
          }
        }
        for (; x < S; x++, offset += 3) {
          out[offset] = padR;
          out[offset + 1] = padG;
          out[offset + 2] = padB;
        }
      }
    }
    if (cutout > 0) {
      const cy = rng!.int(S);
      const cx = rng!.int(S);
      const y0 = Math.max(0, cy - (cutout >> 1));
      const y1 = Math.min(S, cy - (cutout >> 1) + cutout);
      const x0 = Math.max(0, cx - (cutout >> 1));
      const x1 = Math.min(S, cx - (cutout >> 1) + cutout);
      const base = i * BATCH_IMAGE_FLOATS;
      for (let y = y0; y < y1; y++) {
        for (let k = base + (y * S + x0) * 3, end = base + (y * S + x1) * 3; k < end; k++) out[k] = 0;
      }
    }
  }
  return out.length === n * BATCH_IMAGE_FLOATS ? out : out.subarray(0, n * BATCH_IMAGE_FLOATS);
}

/**
 * Writes the labels of images `indices` into `out` ([n] int32, the form a sparse cross-entropy
 * wants) and returns its first n entries.
 */
export function labelsOf(set: CifarSet, indices: ArrayLike<number>, out: Int32Array): Int32Array {
  const n = indices.length;
  checkOut(out.length, n, 'out', 'labelsOf', 'an Int32Array');
  for (let i = 0; i < n; i++) {
    const index = indices[i]!;
    if (!(Number.isInteger(index) && index >= 0 && index < set.count)) {
      throw new DataArgumentError(
        `indices[${i}]`,
        `\`indices[${i}]\` passed to \`labelsOf\` must be an integer in [0, ${set.count}), but got ${index}`,
      );
    }
    out[i] = set.labels[index]!;
  }
  return out.length === n ? out : out.subarray(0, n);
}

function checkOut(length: number, needed: number, argument: string, operation: string, type: string): void {
  if (length < needed) {
    throw new DataArgumentError(
      argument,
      `\`${argument}\` passed to \`${operation}\` must be ${type} of at least ${needed} elements for ${operation === 'makeBatch' ? needed / BATCH_IMAGE_FLOATS : needed} images, but got ${length}`,
    );
  }
}

function requireIntIn(value: unknown, argument: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new DataArgumentError(
      argument,
      `\`${argument}\` passed to \`makeBatch\` must be an integer in [${min}, ${max}], but got ${describe(value)}`,
    );
  }
  return value;
}
