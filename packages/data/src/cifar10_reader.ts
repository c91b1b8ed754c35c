// Reader for the CIFAR-10 binary version (https://www.cs.toronto.edu/~kriz/cifar.html, "Binary
// version"): each file is 10,000 records of 1 label byte + 3,072 pixel bytes (R, G, B planes).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CIFAR10_IMAGE_BYTES,
  CIFAR10_NUM_CLASSES,
  CIFAR10_RECORD_BYTES,
  CIFAR10_RECORDS_PER_FILE,
  CIFAR10_TEST_FILE,
  CIFAR10_TRAIN_FILES,
} from './cifar10_layout.js';
import { Cifar10FormatError } from './errors.js';

/** A set of CIFAR-10 images held as the file's bytes. */
export interface CifarSet {
  /** Number of images. */
  count: number;
  /** Labels 0..9, shape [count]. */
  labels: Uint8Array;
  /** Pixels, shape [count, 3, 32, 32]: planar R, G, B, each row-major, exactly as in the file. */
  images: Uint8Array;
}

/** Options of {@link readCifar10File}. */
export interface ReadCifar10FileOptions {
  /** Records the file must hold; 10,000 for the official files. Pass `null` to accept any count. */
  expectedRecords?: number | null;
}

/**
 * Reads one CIFAR-10 .bin file.
 *
 * @throws Cifar10FormatError `CIFAR10_FILE_MISSING`, `CIFAR10_FILE_UNREADABLE` (a directory, no
 *   permission, an I/O error), `CIFAR10_BAD_SIZE` (not whole records),
 *   `CIFAR10_BAD_RECORD_COUNT` (not `expectedRecords` records) or `CIFAR10_BAD_LABEL` (label > 9).
 */
export async function readCifar10File(path: string, options: ReadCifar10FileOptions = {}): Promise<CifarSet> {
  const bytes = await readWholeFile(path);
  const count = checkRecordCount(
    path,
    bytes.length,
    options.expectedRecords === undefined ? CIFAR10_RECORDS_PER_FILE : options.expectedRecords,
  );
  const set: CifarSet = { count, labels: new Uint8Array(count), images: new Uint8Array(count * CIFAR10_IMAGE_BYTES) };
  unpackRecords(path, bytes, set, 0);
  return set;
}

/**
 * Reads a split from a folder holding the official files: `train` is data_batch_1..5.bin
 * concatenated in order (50,000 images), `test` is test_batch.bin (10,000 images).
 *
 * @example
 * const train = await readCifar10(await ensureCifar10({ cacheDir }), 'train'); // train.count === 50_000
 */
export async function readCifar10(dir: string, split: 'train' | 'test'): Promise<CifarSet> {
  const files = split === 'train' ? CIFAR10_TRAIN_FILES : split === 'test' ? [CIFAR10_TEST_FILE] : null;
  if (files === null)
    throw new TypeError(`\`split\` passed to \`readCifar10\` must be 'train' or 'test', but got ${JSON.stringify(split)}`);
  const count = files.length * CIFAR10_RECORDS_PER_FILE;
  const set: CifarSet = { count, labels: new Uint8Array(count), images: new Uint8Array(count * CIFAR10_IMAGE_BYTES) };
  // One file at a time, so peak memory is the set plus one 30 MB file.
  for (const [k, name] of files.entries()) {
    const path = join(dir, name);
    const bytes = await readWholeFile(path);
    checkRecordCount(path, bytes.length, CIFAR10_RECORDS_PER_FILE);
    unpackRecords(path, bytes, set, k * CIFAR10_RECORDS_PER_FILE);
  }
  return set;
}

async function readWholeFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new Cifar10FormatError('CIFAR10_FILE_MISSING', path, `CIFAR-10 file ${path} does not exist`);
    }
    // Still the data's fault, not ours: name the file, the way missing and malformed files are named.
    throw new Cifar10FormatError(
      'CIFAR10_FILE_UNREADABLE',
      path,
      `CIFAR-10 file ${path} must be a readable file, but reading it failed with ${code ?? String(err)}`,
      { cause: err },
    );
  }
}

/** Returns the record count of a file of `bytes` bytes, or throws if it is not `expected`. */
function checkRecordCount(path: string, bytes: number, expected: number | null): number {
  if (bytes % CIFAR10_RECORD_BYTES !== 0) {
    throw new Cifar10FormatError(
      'CIFAR10_BAD_SIZE',
      path,
      `CIFAR-10 file ${path} must hold whole ${CIFAR10_RECORD_BYTES}-byte records` +
        (expected === null ? '' : ` (${expected * CIFAR10_RECORD_BYTES} bytes)`) +
        `, but has ${bytes} bytes (${Math.floor(bytes / CIFAR10_RECORD_BYTES)} records and ${bytes % CIFAR10_RECORD_BYTES} bytes over)`,
    );
  }
  const count = bytes / CIFAR10_RECORD_BYTES;
  if (expected !== null && count !== expected) {
    throw new Cifar10FormatError(
      'CIFAR10_BAD_RECORD_COUNT',
      path,
      `CIFAR-10 file ${path} must hold ${expected} records, but holds ${count} (${bytes} bytes)`,
    );
  }
  return count;
}

/** Splits records into `set.labels` / `set.images` starting at image `first`, checking each label. */
function unpackRecords(path: string, bytes: Uint8Array, set: CifarSet, first: number): void {
  const count = bytes.length / CIFAR10_RECORD_BYTES;
  for (let r = 0; r < count; r++) {
    const at = r * CIFAR10_RECORD_BYTES;
    const label = bytes[at]!;
    if (label >= CIFAR10_NUM_CLASSES) {
      throw new Cifar10FormatError(
        'CIFAR10_BAD_LABEL',
        path,
        `CIFAR-10 file ${path} record ${r} (byte offset ${at}) must have a label in 0..${CIFAR10_NUM_CLASSES - 1}, but has ${label}`,
      );
    }
    set.labels[first + r] = label;
    set.images.set(bytes.subarray(at + 1, at + CIFAR10_RECORD_BYTES), (first + r) * CIFAR10_IMAGE_BYTES);
  }
}
