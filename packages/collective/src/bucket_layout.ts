// Gradient buckets: contiguous ranges of the flat float32 gradient vector, all-reduced one after
// another so communication of one can start while the caller still fills the next. Follows torch
// DDP's Reducer (`compute_bucket_assignment_by_size`): whole parameters, in order, packed
// greedily up to a byte cap. The coordinator plans the layout once and sends it in `welcome`, so
// every rank uses the same one.
import type { Bucket } from '@gnet/protocol';
import { CollectiveConfigError } from './errors.js';

/** Bytes of one gradient element: buckets are planned in float32, whatever the wire dtype. */
const GRADIENT_BYTES_PER_ELEMENT = 4;

/**
 * Splits the flat gradient of parameters with `paramSizes` elements (in the model's variable
 * order) into buckets of at most `bucketBytes` bytes of float32. A parameter is never split: one
 * larger than `bucketBytes` gets a bucket of its own. Deterministic, so every rank computes the
 * same layout; buckets are numbered from 0 in offset order (the protocol's `BucketSchema`).
 *
 * @example
 * planBuckets([100, 200, 50, 1000], 1200) // 4-byte floats: 400, 800, 200, 4000 bytes
 * // [{ bucket: 0, offset: 0, length: 300 }, { bucket: 1, offset: 300, length: 50 },
 * //  { bucket: 2, offset: 350, length: 1000 }]
 */
export function planBuckets(paramSizes: readonly number[], bucketBytes: number): Bucket[] {
  if (!Number.isInteger(bucketBytes) || bucketBytes < GRADIENT_BYTES_PER_ELEMENT) {
    throw new CollectiveConfigError(`planBuckets \`bucketBytes\` must be an integer >= 4, but got ${bucketBytes}`);
  }
  if (paramSizes.length === 0) {
    throw new CollectiveConfigError('planBuckets `paramSizes` must list at least one parameter, but is empty');
  }
  const maxElements = Math.floor(bucketBytes / GRADIENT_BYTES_PER_ELEMENT);
  const buckets: Bucket[] = [];
  let offset = 0;
  let length = 0;
  paramSizes.forEach((size, i) => {
    if (!Number.isInteger(size) || size < 1) {
      throw new CollectiveConfigError(`planBuckets \`paramSizes[${i}]\` must be a positive integer, but got ${size}`);
    }
    if (length > 0 && length + size > maxElements) {
      buckets.push({ bucket: buckets.length, offset, length });
      offset += length;
      length = 0;
    }
    length += size;
  });
  buckets.push({ bucket: buckets.length, offset, length });
  return buckets;
}

/** Elements covered by `buckets`: the flat gradient's length. */
export function layoutElements(buckets: readonly Bucket[]): number {
  const last = buckets[buckets.length - 1];
  return last === undefined ? 0 : last.offset + last.length;
}

/**
 * Throws `CollectiveConfigError` unless `buckets` are numbered 0, 1, ..., contiguous from offset
 * 0, non-empty and, when given, cover exactly `totalElements` elements (the flat gradient).
 */
export function checkBucketLayout(buckets: readonly Bucket[], totalElements?: number): void {
  if (buckets.length === 0) throw new CollectiveConfigError('Bucket layout must have at least one bucket, but is empty');
  let offset = 0;
  buckets.forEach((b, i) => {
    if (b.bucket !== i) throw new CollectiveConfigError(`buckets[${i}].bucket must be ${i}, but got ${b.bucket}`);
    if (b.offset !== offset) {
      throw new CollectiveConfigError(`buckets[${i}].offset must be ${offset} (buckets are contiguous), but got ${b.offset}`);
    }
    if (!Number.isInteger(b.length) || b.length < 1) {
      throw new CollectiveConfigError(`buckets[${i}].length must be a positive integer, but got ${b.length}`);
    }
    offset += b.length;
  });
  if (totalElements !== undefined && offset !== totalElements) {
    throw new CollectiveConfigError(`Bucket layout must cover the ${totalElements} gradient elements, but covers ${offset}`);
  }
}
