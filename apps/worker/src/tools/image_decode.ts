// PNG and JPEG files to 8-bit RGB pixels, in pure JavaScript (pngjs, jpeg-js): the format is
// told by the file's magic bytes, not its name. Transparency is composited over white, the way a
// browser shows the image on a default page; dropping alpha instead would expose whatever colour
// the encoder left under transparent pixels (often black), which the picture never showed.
import { readFile } from 'node:fs/promises';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { ImageInputError } from './tool_errors.js';

/** A decoded image: `rgb` is `[height, width, 3]` row-major, interleaved R, G, B, 0..255. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly rgb: Uint8Array;
  readonly format: 'png' | 'jpeg';
}

/** Largest image we decode, in pixels (jpeg-js's own default limit, 100 megapixels). */
export const MAX_IMAGE_PIXELS = 100_000_000;

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_MAGIC = [0xff, 0xd8, 0xff];

const startsWith = (bytes: Uint8Array, magic: readonly number[], at = 0): boolean => magic.every((b, i) => bytes[at + i] === b);
const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

/** Names a format we recognise but do not decode, for the error message. */
function otherFormat(bytes: Uint8Array): string | null {
  if (startsWith(bytes, ascii('GIF8'))) return 'a GIF image';
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return 'a WebP image';
  if (startsWith(bytes, ascii('BM'))) return 'a BMP image';
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return 'a TIFF image';
  if (startsWith(bytes, ascii('ftyp'), 4)) return 'an HEIF/AVIF or MP4 file';
  return null;
}

/** Composites `rgba` (`[h, w, 4]`) over white: out = (c * a + 255 * (255 - a)) / 255, rounded. */
export function rgbaOverWhite(rgba: Uint8Array, pixels: number): Uint8Array {
  const rgb = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    const a = rgba[4 * p + 3]!;
    for (let c = 0; c < 3; c++) rgb[3 * p + c] = Math.round((rgba[4 * p + c]! * a + 255 * (255 - a)) / 255);
  }
  return rgb;
}

function decodePng(bytes: Uint8Array): RgbImage {
  // pngjs expands palette, grey and 16-bit images to 8-bit RGBA (16-bit rescaled to 8).
  const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  checkSize(png.width, png.height);
  return { width: png.width, height: png.height, rgb: rgbaOverWhite(png.data, png.width * png.height), format: 'png' };
}

function decodeJpeg(bytes: Uint8Array): RgbImage {
  // formatAsRGBA false: 3 channels; jpeg-js turns grey, YCbCr and CMYK/YCCK into RGB.
  const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6 });
  checkSize(img.width, img.height);
  return { width: img.width, height: img.height, rgb: img.data, format: 'jpeg' };
}

function checkSize(width: number, height: number): void {
  if (!(width >= 1 && height >= 1) || width * height > MAX_IMAGE_PIXELS) {
    throw new RangeError(`${width}x${height} is not a size we decode (1 to ${MAX_IMAGE_PIXELS} pixels)`);
  }
}

/**
 * Decodes PNG or JPEG `bytes` read from `file` (named in errors) to 8-bit RGB.
 *
 * @throws ImageInputError `TOOL_IMAGE_UNSUPPORTED` when the bytes are neither PNG nor JPEG,
 *   `TOOL_IMAGE_UNREADABLE` when they look like one but do not decode.
 */
export function decodeImage(bytes: Uint8Array, file: string): RgbImage {
  const isPng = startsWith(bytes, PNG_MAGIC);
  const isJpeg = !isPng && startsWith(bytes, JPEG_MAGIC);
  if (!isPng && !isJpeg) {
    const what =
      otherFormat(bytes) ??
      (bytes.length === 0
        ? 'empty'
        : `not an image we recognise (first bytes ${[...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ')})`);
    throw new ImageInputError('TOOL_IMAGE_UNSUPPORTED', file, `Image ${file} must be a PNG or JPEG file, but it is ${what}`);
  }
  const format = isPng ? 'PNG' : 'JPEG';
  try {
    return isPng ? decodePng(bytes) : decodeJpeg(bytes);
  } catch (err) {
    throw new ImageInputError(
      'TOOL_IMAGE_UNREADABLE',
      file,
      `Image ${file} starts like a ${format} file but cannot be decoded: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/**
 * Reads and decodes an image file.
 *
 * @throws ImageInputError `TOOL_IMAGE_UNREADABLE` when the file cannot be read (missing, a
 *   folder, no permission) or decoded; `TOOL_IMAGE_UNSUPPORTED` for other formats.
 */
export async function readImage(file: string): Promise<RgbImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new ImageInputError('TOOL_IMAGE_UNREADABLE', file, `Cannot read image ${file}: ${(err as Error).message}`, { cause: err });
  }
  return decodeImage(bytes, file);
}
