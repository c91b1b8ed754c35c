// Atomic, checksummed file writes: bytes go to a temporary name in the destination folder and are
// renamed over the final name only after their SHA-1 matched, so a reader never sees a partial or
// unverified file (rename(2) within one file system is atomic; cf. npm's write-file-atomic).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Cifar10ChecksumError } from './errors.js';

/** A written file's SHA-1 (hex) and length. */
export interface WrittenFile {
  sha1: string;
  bytes: number;
}

/** A fresh temporary name beside `dest`, unique per process and call. */
export function tempPathFor(dest: string): string {
  return `${dest}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/**
 * Streams `source` into `dest` atomically. When `expectedSha1` is given and the bytes hash to
 * something else, the temporary file is removed and {@link Cifar10ChecksumError} is thrown.
 */
export async function streamToFileAtomic(dest: string, source: AsyncIterable<Uint8Array>, expectedSha1?: string): Promise<WrittenFile> {
  const tmp = tempPathFor(dest);
  const hash = createHash('sha1');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  try {
    // A generator wrapper, so any async iterable (a tar-stream entry is a streamx stream) can feed a
    // node pipeline.
    await pipeline(
      (async function* () {
        for await (const chunk of source) yield chunk;
      })(),
      tap,
      createWriteStream(tmp),
    );
    const sha1 = hash.digest('hex');
    if (expectedSha1 !== undefined && sha1 !== expectedSha1) throw new Cifar10ChecksumError(basename(dest), expectedSha1, sha1);
    await rename(tmp, dest);
    return { sha1, bytes };
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Writes `data` to `dest` atomically, checking its SHA-1 first as {@link streamToFileAtomic} does. */
export async function writeFileAtomic(dest: string, data: Uint8Array | string, expectedSha1?: string): Promise<WrittenFile> {
  const sha1 = createHash('sha1').update(data).digest('hex');
  if (expectedSha1 !== undefined && sha1 !== expectedSha1) throw new Cifar10ChecksumError(basename(dest), expectedSha1, sha1);
  const tmp = tempPathFor(dest);
  try {
    await writeFile(tmp, data);
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return { sha1, bytes: typeof data === 'string' ? Buffer.byteLength(data) : data.length };
}

/** SHA-1 (hex) of a file, streamed. */
export async function sha1File(path: string): Promise<string> {
  const hash = createHash('sha1');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
