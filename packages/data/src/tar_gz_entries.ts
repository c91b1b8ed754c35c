// Streaming .tar.gz reader: zlib's gunzip into tar-stream's extract, one regular-file entry at a time,
// without touching the disk (tar-stream README, "Extracting").
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { Cifar10FormatError } from './errors.js';

/**
 * Calls `onEntry` for each regular file of the gzipped tar `source`, in archive order. `onEntry`
 * reads the entry's bytes (or not: unread bytes are skipped). Resolves once `source` is fully read.
 *
 * @throws Cifar10FormatError `CIFAR10_BAD_ARCHIVE` when the bytes are not a readable .tar.gz;
 *   errors of `source` and of `onEntry` pass through unchanged.
 */
export async function forEachTarGzEntry(
  source: AsyncIterable<Uint8Array>,
  archive: string,
  onEntry: (name: string, bytes: number, body: AsyncIterable<Buffer>) => Promise<void>,
): Promise<void> {
  const input = Readable.from(source, { objectMode: false });
  const gunzip = createGunzip();
  const extract = tar.extract();
  const badArchive = (err: Error): Cifar10FormatError =>
    new Cifar10FormatError(
      'CIFAR10_BAD_ARCHIVE',
      archive,
      `${archive} must be a gzipped tar archive, but reading it failed: ${err.message}`,
    );
  // Errors of `source` and of `onEntry` are kept as they are; anything else that stops the
  // extraction (zlib's "incorrect header check", tar-stream's "Invalid tar header") is the archive's.
  let passThrough: unknown = null;
  input.on('error', (err) => {
    passThrough = err;
    extract.destroy(err);
  });
  gunzip.on('error', (err) => extract.destroy(badArchive(err)));
  const inputDone = finished(input);
  inputDone.catch(() => {}); // reported through `extract` above
  input.pipe(gunzip).pipe(extract);
  try {
    for await (const entry of extract) {
      const { name, type, size } = entry.header;
      if (type === 'file' || type === 'contiguous-file') {
        try {
          await onEntry(name, size, entry as AsyncIterable<Buffer>); // streamx yields Buffers
        } catch (err) {
          passThrough = err;
          throw err;
        }
      }
      entry.resume(); // skip whatever onEntry left unread
    }
    await inputDone;
  } catch (err) {
    if (err === passThrough || err instanceof Cifar10FormatError || !(err instanceof Error)) throw err;
    throw badArchive(err);
  } finally {
    input.destroy();
    gunzip.destroy();
    extract.destroy();
  }
}
