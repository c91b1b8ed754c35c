// Source 1: the official archive https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, whose
// files sit under `cifar-10-batches-bin/`. Each wanted file streams straight from the archive into
// the cache folder under a temporary name and is renamed once its SHA-1 matched.
import { join, posix } from 'node:path';
import { streamToFileAtomic, type WrittenFile } from './atomic_file.js';
import { Cifar10FormatError } from './errors.js';
import { forEachTarGzEntry } from './tar_gz_entries.js';

/** Folder of the official archive that holds the .bin files. */
export const OFFICIAL_ARCHIVE_FOLDER = 'cifar-10-batches-bin';

/**
 * Extracts the files named in `wanted` (file name -> expected SHA-1) from the official .tar.gz
 * `body` into `dir`, calling `onWritten` as each lands. Stops at the first checksum mismatch.
 *
 * @throws Cifar10ChecksumError, or Cifar10FormatError `CIFAR10_ARCHIVE_INCOMPLETE` / `CIFAR10_BAD_ARCHIVE`.
 */
export async function extractOfficialTarball(
  body: AsyncIterable<Uint8Array>,
  archive: string,
  dir: string,
  wanted: ReadonlyMap<string, string>,
  onWritten: (name: string, file: WrittenFile) => void,
): Promise<void> {
  const got = new Set<string>();
  await forEachTarGzEntry(body, archive, async (path, _bytes, entry) => {
    const normalised = posix.normalize(path);
    const name = posix.basename(normalised);
    const expected = wanted.get(name);
    if (posix.dirname(normalised) !== OFFICIAL_ARCHIVE_FOLDER || expected === undefined || got.has(name)) return;
    onWritten(name, await streamToFileAtomic(join(dir, name), entry, expected));
    got.add(name);
  });
  const missing = [...wanted.keys()].filter((name) => !got.has(name));
  if (missing.length > 0) {
    throw new Cifar10FormatError(
      'CIFAR10_ARCHIVE_INCOMPLETE',
      archive,
      `${archive} must contain ${missing.map((m) => `${OFFICIAL_ARCHIVE_FOLDER}/${m}`).join(', ')}, but does not`,
    );
  }
}
