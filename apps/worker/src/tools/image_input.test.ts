// Image files reach the network exactly as CIFAR-10 test images do: a test image saved as a 32x32
// PNG, or enlarged 3x by pixel repetition (which area averaging undoes exactly), gives bit for bit
// the floats makeBatch gives that image during training's evaluation.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { BATCH_IMAGE_FLOATS, CIFAR10_PLANE_BYTES, makeBatch, readCifar10, type CifarSet } from '@gnet/data';
import { normaliseRecords, prepareImages } from './image_input.js';

const DATA_DIR = process.env['CIFAR10_DIR'] || fileURLToPath(new URL('../../../../../shared/data/cifar-10-batches-bin', import.meta.url));

/** Test image `index` as a PNG enlarged `factor` times (each pixel a factor x factor block). */
function cifarPng(set: CifarSet, index: number, factor: number): Buffer {
  const side = 32 * factor;
  const png = new PNG({ width: side, height: side });
  const base = index * 3 * CIFAR10_PLANE_BYTES;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const p = Math.floor(y / factor) * 32 + Math.floor(x / factor);
      const offset = (y * side + x) * 4;
      for (let c = 0; c < 3; c++) png.data[offset + c] = set.images[base + c * CIFAR10_PLANE_BYTES + p]!;
      png.data[offset + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}

describe('prepareImages', () => {
  let dir = '';
  let test: CifarSet;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gnet-input-'));
    test = await readCifar10(DATA_DIR, 'test');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gives a CIFAR-10 test image, at 32x32 or enlarged 3x, the same floats as makeBatch', async () => {
    const files: string[] = [];
    for (const [index, factor] of [
      [0, 1],
      [1, 3],
      [2, 1],
    ] as const) {
      const file = join(dir, `test${index}x${factor}.png`);
      await writeFile(file, cifarPng(test, index, factor));
      files.push(file);
    }
    const prepared = await prepareImages(files);
    assert.deepEqual(
      prepared.map((p) => [p.width, p.format]),
      [
        [32, 'png'],
        [96, 'png'],
        [32, 'png'],
      ],
    );
    const actual = normaliseRecords(prepared.map((p) => p.record));
    const expected = makeBatch(test, [0, 1, 2], new Float32Array(3 * BATCH_IMAGE_FLOATS), { augment: null });
    assert.deepEqual(actual, expected);
  });

  it('stops at the first file that cannot be used, naming it', async () => {
    const good = join(dir, 'good.png');
    await writeFile(good, cifarPng(test, 5, 1));
    const bad = join(dir, 'bad.png');
    await writeFile(bad, 'not a picture');
    await assert.rejects(prepareImages([good, bad]), { name: 'ImageInputError', code: 'TOOL_IMAGE_UNSUPPORTED', file: bad });
  });
});
