// Decoding real PNG and JPEG files (written with pngjs and jpeg-js), transparency over white, and
// the typed errors for files we cannot use: each names the file.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { decodeImage, readImage, rgbaOverWhite } from './image_decode.js';
import { ImageInputError } from './tool_errors.js';

/** A PNG of `[h, w, 4]` RGBA pixels. */
function pngBytes(width: number, height: number, rgba: ArrayLike<number>, colorType: 0 | 2 | 6 = 6): Buffer {
  const png = new PNG({ width, height });
  png.data.set(Array.from(rgba));
  return PNG.sync.write(png, { colorType });
}

describe('decodeImage', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gnet-decode-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('decodes an RGBA PNG, compositing transparency over white', () => {
    // Opaque red, half-transparent red, fully transparent black, opaque grey.
    const img = decodeImage(pngBytes(2, 2, [255, 0, 0, 255, 255, 0, 0, 128, 0, 0, 0, 0, 90, 90, 90, 255]), 'a.png');
    assert.equal(img.format, 'png');
    assert.deepEqual([img.width, img.height], [2, 2]);
    assert.deepEqual([...img.rgb], [255, 0, 0, 255, 127, 127, 255, 255, 255, 90, 90, 90]);
  });

  it('decodes grey and RGB PNGs to RGB', () => {
    const grey = decodeImage(pngBytes(2, 1, [10, 10, 10, 255, 200, 200, 200, 255], 0), 'grey.png');
    assert.deepEqual([...grey.rgb], [10, 10, 10, 200, 200, 200]);
    const rgb = decodeImage(pngBytes(1, 1, [1, 2, 3, 255], 2), 'rgb.png');
    assert.deepEqual([...rgb.rgb], [1, 2, 3]);
  });

  it('decodes a JPEG to RGB close to what was encoded', () => {
    const width = 16;
    const height = 8;
    const rgba = new Uint8Array(width * height * 4);
    for (let p = 0; p < width * height; p++) rgba.set([200, 120, 40, 255], 4 * p);
    const img = decodeImage(jpeg.encode({ width, height, data: rgba }, 95).data, 'flat.jpg');
    assert.equal(img.format, 'jpeg');
    assert.deepEqual([img.width, img.height, img.rgb.length], [width, height, width * height * 3]);
    img.rgb.forEach((v, i) => assert.ok(Math.abs(v - [200, 120, 40][i % 3]!) <= 3, `value ${i}: ${v}`));
  });

  it('composites over white by the formula (c * a + 255 * (255 - a)) / 255', () => {
    assert.deepEqual([...rgbaOverWhite(Uint8Array.from([100, 0, 255, 51]), 1)], [224, 204, 255]);
  });

  const expectError = async (file: string, code: string, message: RegExp): Promise<void> => {
    await assert.rejects(readImage(file), (err: unknown) => {
      assert.ok(err instanceof ImageInputError, `ImageInputError, got ${String(err)}`);
      assert.equal(err.code, code);
      assert.equal(err.file, file);
      assert.match(err.message, message);
      return true;
    });
  };

  it('refuses files that are not PNG or JPEG, saying what they are', async () => {
    const gif = join(dir, 'anim.gif');
    await writeFile(gif, Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'));
    await expectError(gif, 'TOOL_IMAGE_UNSUPPORTED', new RegExp(`^Image ${gif} must be a PNG or JPEG file, but it is a GIF image$`));
    const text = join(dir, 'notes.png');
    await writeFile(text, 'hello world');
    await expectError(
      text,
      'TOOL_IMAGE_UNSUPPORTED',
      new RegExp(
        `^Image ${text} must be a PNG or JPEG file, but it is not an image we recognise \\(first bytes 68 65 6c 6c 6f 20 77 6f\\)$`,
      ),
    );
    const empty = join(dir, 'empty.jpg');
    await writeFile(empty, '');
    await expectError(empty, 'TOOL_IMAGE_UNSUPPORTED', new RegExp(`^Image ${empty} must be a PNG or JPEG file, but it is empty$`));
  });

  it('reports PNG and JPEG files that do not decode, and files that cannot be read', async () => {
    const truncated = join(dir, 'cut.png');
    await writeFile(truncated, pngBytes(4, 4, new Uint8Array(64).fill(255)).subarray(0, 40));
    await expectError(
      truncated,
      'TOOL_IMAGE_UNREADABLE',
      new RegExp(`^Image ${truncated} starts like a PNG file but cannot be decoded: .+`),
    );
    const badJpeg = join(dir, 'bad.jpg');
    await writeFile(badJpeg, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x02, 0x03]));
    await expectError(badJpeg, 'TOOL_IMAGE_UNREADABLE', new RegExp(`^Image ${badJpeg} starts like a JPEG file but cannot be decoded: .+`));
    const missing = join(dir, 'missing.png');
    await expectError(missing, 'TOOL_IMAGE_UNREADABLE', new RegExp(`^Cannot read image ${missing}: ENOENT`));
    await expectError(dir, 'TOOL_IMAGE_UNREADABLE', new RegExp(`^Cannot read image ${dir}: EISDIR`));
  });
});
