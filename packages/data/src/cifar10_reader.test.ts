// Tests of the CIFAR-10 binary reader on the real files and on corrupted copies in a temp dir
// (never in the real data folder, which is read-only).
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CIFAR10_CLASSES, CIFAR10_IMAGE_BYTES, CIFAR10_RECORD_BYTES, CIFAR10_META_TEXT, CIFAR10_TRAIN_FILES } from './cifar10_layout.js';
import { readCifar10, readCifar10File } from './cifar10_reader.js';
import { Cifar10FormatError } from './errors.js';

// The real CIFAR-10 lies read-only in shared/ beside the checkout (CIFAR10_DIR overrides).
const REAL_DIR = process.env['CIFAR10_DIR'] || fileURLToPath(new URL('../../../../shared/data/cifar-10-batches-bin', import.meta.url));

function classCounts(labels: Uint8Array): number[] {
  const counts = new Array<number>(10).fill(0);
  for (const l of labels) counts[l]!++;
  return counts;
}

describe('readCifar10 on the real files', () => {
  test('test split: 10,000 images, official first labels, 1,000 per class, pixels as in the file', async () => {
    const set = await readCifar10(REAL_DIR, 'test');
    assert.equal(set.count, 10_000);
    assert.equal(set.labels.length, 10_000);
    assert.equal(set.images.length, 10_000 * 3072);
    assert.deepEqual([...set.labels.subarray(0, 10)], [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]);
    assert.deepEqual(classCounts(set.labels), new Array(10).fill(1000));
    const raw = await readFile(join(REAL_DIR, 'test_batch.bin'));
    for (const i of [0, 1, 4321, 9999]) {
      const record = raw.subarray(i * CIFAR10_RECORD_BYTES, (i + 1) * CIFAR10_RECORD_BYTES);
      assert.equal(set.labels[i], record[0]);
      assert.deepEqual(set.images.subarray(i * CIFAR10_IMAGE_BYTES, (i + 1) * CIFAR10_IMAGE_BYTES), new Uint8Array(record.subarray(1)));
    }
  });

  test('train split: the five batches in order, 5,000 per class', async () => {
    const set = await readCifar10(REAL_DIR, 'train');
    assert.equal(set.count, 50_000);
    assert.deepEqual([...set.labels.subarray(0, 10)], [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]);
    assert.deepEqual(classCounts(set.labels), new Array(10).fill(5000));
    // Image 10,000 is the first record of data_batch_2.bin.
    const batch2 = await readCifar10File(join(REAL_DIR, 'data_batch_2.bin'));
    assert.equal(set.labels[10_000], batch2.labels[0]);
    assert.deepEqual(set.images.subarray(10_000 * 3072, 10_001 * 3072), batch2.images.subarray(0, 3072));
    assert.deepEqual(set.labels.subarray(40_000), (await readCifar10File(join(REAL_DIR, 'data_batch_5.bin'))).labels);
  });

  test('CIFAR10_CLASSES matches batches.meta.txt', async () => {
    assert.equal(CIFAR10_CLASSES.length, 10);
    assert.equal(CIFAR10_CLASSES[0], 'airplane');
    assert.equal(CIFAR10_CLASSES[9], 'truck');
    assert.equal(await readFile(join(REAL_DIR, 'batches.meta.txt'), 'utf8'), CIFAR10_META_TEXT);
  });

  test('an unknown split is refused', async () => {
    await assert.rejects(readCifar10(REAL_DIR, 'val' as 'train'), {
      name: 'TypeError',
      message: "`split` passed to `readCifar10` must be 'train' or 'test', but got \"val\"",
    });
  });
});

describe('readCifar10File on corrupted copies', () => {
  let dir = '';
  let original: Buffer;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gnet-cifar-reader-'));
    original = await readFile(join(REAL_DIR, 'test_batch.bin'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a truncated file (not whole records) is a CIFAR10_BAD_SIZE naming the file and both sizes', async () => {
    const path = join(dir, 'truncated.bin');
    await writeFile(path, original.subarray(0, original.length - 1000));
    await assert.rejects(readCifar10File(path), (err: unknown) => {
      assert.ok(err instanceof Cifar10FormatError);
      assert.equal(err.code, 'CIFAR10_BAD_SIZE');
      assert.equal(err.file, path);
      assert.equal(
        err.message,
        `CIFAR-10 file ${path} must hold whole 3073-byte records (30730000 bytes), but has 30729000 bytes (9999 records and 2073 bytes over)`,
      );
      return true;
    });
  });

  test('whole records but not 10,000 of them is a CIFAR10_BAD_RECORD_COUNT', async () => {
    const path = join(dir, 'short.bin');
    await writeFile(path, original.subarray(0, 5 * CIFAR10_RECORD_BYTES));
    await assert.rejects(readCifar10File(path), {
      name: 'Cifar10FormatError',
      code: 'CIFAR10_BAD_RECORD_COUNT',
      file: path,
      message: `CIFAR-10 file ${path} must hold 10000 records, but holds 5 (15365 bytes)`,
    });
    // The same file is accepted when the caller says it has no fixed count.
    const set = await readCifar10File(path, { expectedRecords: null });
    assert.equal(set.count, 5);
    assert.deepEqual([...set.labels], [3, 8, 8, 0, 6]);
  });

  test('a label above 9 is a CIFAR10_BAD_LABEL naming the record', async () => {
    const path = join(dir, 'data_batch_1.bin');
    const bad = Buffer.from(original);
    bad[7 * CIFAR10_RECORD_BYTES] = 10;
    await writeFile(path, bad);
    await assert.rejects(readCifar10File(path), {
      name: 'Cifar10FormatError',
      code: 'CIFAR10_BAD_LABEL',
      file: path,
      message: `CIFAR-10 file ${path} record 7 (byte offset 21511) must have a label in 0..9, but has 10`,
    });
  });

  test('the train split refuses a folder where one batch is corrupt or missing', async () => {
    // data_batch_1.bin in `dir` has the bad label written above.
    await assert.rejects(readCifar10(dir, 'train'), { code: 'CIFAR10_BAD_LABEL', file: join(dir, 'data_batch_1.bin') });
    await assert.rejects(readCifar10(dir, 'test'), {
      name: 'Cifar10FormatError',
      code: 'CIFAR10_FILE_MISSING',
      message: `CIFAR-10 file ${join(dir, 'test_batch.bin')} does not exist`,
    });
  });
});

describe('readCifar10 on damaged copies of the real training batches', () => {
  // A folder with copies of all five real batches; each test damages one copy and restores it.
  let dir = '';
  const originals = new Map<string, Buffer>();
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gnet-cifar-damaged-'));
    for (const name of CIFAR10_TRAIN_FILES) {
      const bytes = await readFile(join(REAL_DIR, name));
      originals.set(name, bytes);
      await writeFile(join(dir, name), bytes);
    }
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  /** Writes a damaged copy of `name`, runs `check`, then puts the intact copy back. */
  async function damaged(name: string, damage: (bytes: Buffer) => Buffer, check: (path: string) => Promise<void>): Promise<void> {
    const path = join(dir, name);
    await writeFile(path, damage(Buffer.from(originals.get(name)!)));
    try {
      await check(path);
    } finally {
      await rm(path, { recursive: true, force: true });
      await writeFile(path, originals.get(name)!);
    }
  }

  test('the intact copies read as the real train split', async () => {
    assert.equal((await readCifar10(dir, 'train')).count, 50_000);
  });

  test('label 255 in the last record of batch 4: CIFAR10_BAD_LABEL naming the file, the record and the byte', async () => {
    const at = 9_999 * CIFAR10_RECORD_BYTES;
    await damaged(
      'data_batch_4.bin',
      (b) => ((b[at] = 255), b),
      async (path) => {
        await assert.rejects(readCifar10(dir, 'train'), {
          name: 'Cifar10FormatError',
          code: 'CIFAR10_BAD_LABEL',
          file: path,
          message: `CIFAR-10 file ${path} record 9999 (byte offset ${at}) must have a label in 0..9, but has 255`,
        });
      },
    );
  });

  test('batch 3 cut in the middle of a record: CIFAR10_BAD_SIZE naming the file and both sizes', async () => {
    await damaged(
      'data_batch_3.bin',
      (b) => b.subarray(0, 5_000 * CIFAR10_RECORD_BYTES + 17),
      async (path) => {
        await assert.rejects(readCifar10(dir, 'train'), {
          name: 'Cifar10FormatError',
          code: 'CIFAR10_BAD_SIZE',
          file: path,
          message: `CIFAR-10 file ${path} must hold whole 3073-byte records (30730000 bytes), but has ${5_000 * CIFAR10_RECORD_BYTES + 17} bytes (5000 records and 17 bytes over)`,
        });
      },
    );
  });

  test('batch 2 with a record too many, or empty: CIFAR10_BAD_RECORD_COUNT', async () => {
    await damaged(
      'data_batch_2.bin',
      (b) => Buffer.concat([b, b.subarray(0, CIFAR10_RECORD_BYTES)]),
      async (path) => {
        await assert.rejects(readCifar10(dir, 'train'), {
          name: 'Cifar10FormatError',
          code: 'CIFAR10_BAD_RECORD_COUNT',
          file: path,
          message: `CIFAR-10 file ${path} must hold 10000 records, but holds 10001 (30733073 bytes)`,
        });
      },
    );
    await damaged(
      'data_batch_2.bin',
      () => Buffer.alloc(0),
      async (path) => {
        await assert.rejects(readCifar10(dir, 'train'), {
          code: 'CIFAR10_BAD_RECORD_COUNT',
          message: `CIFAR-10 file ${path} must hold 10000 records, but holds 0 (0 bytes)`,
        });
      },
    );
  });

  test('a directory where batch 5 should be: CIFAR10_FILE_UNREADABLE naming the file and the system error', async () => {
    const path = join(dir, 'data_batch_5.bin');
    await rm(path);
    await mkdir(path);
    try {
      await assert.rejects(readCifar10(dir, 'train'), (err: unknown) => {
        assert.ok(err instanceof Cifar10FormatError);
        assert.equal(err.code, 'CIFAR10_FILE_UNREADABLE');
        assert.equal(err.file, path);
        assert.equal(err.message, `CIFAR-10 file ${path} must be a readable file, but reading it failed with EISDIR`);
        assert.equal((err.cause as NodeJS.ErrnoException).code, 'EISDIR');
        return true;
      });
    } finally {
      await rm(path, { recursive: true, force: true });
      await writeFile(path, originals.get('data_batch_5.bin')!);
    }
  });

  test('every label byte from 10 to 255 is refused, wherever the record is', async () => {
    const name = 'data_batch_1.bin';
    for (const [label, record] of [
      [10, 0],
      [11, 1],
      [127, 4_242],
      [128, 5_000],
      [254, 9_998],
    ] as const) {
      const at = record * CIFAR10_RECORD_BYTES;
      await damaged(
        name,
        (b) => ((b[at] = label), b),
        async (path) => {
          await assert.rejects(readCifar10File(path), {
            code: 'CIFAR10_BAD_LABEL',
            message: `CIFAR-10 file ${path} record ${record} (byte offset ${at}) must have a label in 0..9, but has ${label}`,
          });
        },
      );
    }
  });
});
