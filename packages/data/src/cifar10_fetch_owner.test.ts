// Tests of whose folder ensureCifar10 may change (issue 10, item 6): a file failing its SHA-1 in a
// folder the user pointed at is refused and left alone, with no download; in the project's own
// cache it is removed and fetched again, and an offline failure says it was removed. Real
// CIFAR-10 bytes, copied from the read-only shared folder; sources are local HTTP servers that
// count their requests.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmod, copyFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { CIFAR10_BIN_SHA1 } from './cifar10_layout.js';
import { ensureCifar10, folderOwner, projectCacheDir } from './cifar10_fetch.js';
import { Cifar10CorruptFileError, Cifar10DownloadError } from './errors.js';

// The real CIFAR-10 lies read-only in shared/ beside the checkout (CIFAR10_DIR overrides). Never written.
const REAL_DIR = process.env['CIFAR10_DIR'] || fileURLToPath(new URL('../../../../shared/data/cifar-10-batches-bin', import.meta.url));

const sha1 = (bytes: Uint8Array): string => createHash('sha1').update(bytes).digest('hex');

/** An HTTP server on 127.0.0.1:0 that answers 404 to everything and records each request. */
async function recordingServer(): Promise<{ url: string; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.writeHead(404).end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

/** Copies the real files into `dir` (writable copies) and flips one bit of byte 5,000 of `name`; returns the new bytes. */
async function copyRealWithFlip(dir: string, name: string): Promise<Buffer> {
  for (const file of [...Object.keys(CIFAR10_BIN_SHA1), 'batches.meta.txt']) {
    await copyFile(join(REAL_DIR, file), join(dir, file));
    await chmod(join(dir, file), 0o644);
  }
  const bytes = await readFile(join(dir, name));
  bytes[5000] = bytes[5000]! ^ 0x01;
  await writeFile(join(dir, name), bytes);
  return bytes;
}

let dir = '';
let sources: Awaited<ReturnType<typeof recordingServer>>[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gnet-cifar-owner-'));
  sources = [await recordingServer(), await recordingServer()];
});
afterEach(async () => {
  await Promise.all(sources.map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});
const offline = (): { sourceUrl: string; mirrorRegistryUrl: string; retries: number } => ({
  sourceUrl: `${sources[0]!.url}/cifar-10-binary.tar.gz`,
  mirrorRegistryUrl: sources[1]!.url,
  retries: 0,
});

describe("ensureCifar10 in the user's --data-dir", () => {
  test('a real file with one flipped bit is refused by name and both SHA-1s, left unchanged, and nothing is downloaded', async () => {
    const name = 'data_batch_3.bin';
    const path = join(dir, name);
    const flipped = await copyRealWithFlip(dir, name);
    const before = await stat(path);
    const expected = CIFAR10_BIN_SHA1[name]!;
    const actual = sha1(flipped);
    assert.notEqual(actual, expected);

    // No `owner`: the apps pass only the folder, and a temporary folder is not the project's cache.
    await assert.rejects(ensureCifar10({ cacheDir: dir, ...offline() }), (err: unknown) => {
      assert.ok(err instanceof Cifar10CorruptFileError, `expected Cifar10CorruptFileError, got ${String(err)}`);
      assert.equal(err.code, 'CIFAR10_USER_FILE_CORRUPT');
      assert.equal(err.file, path);
      assert.equal(err.expected, expected);
      assert.equal(err.actual, actual);
      assert.equal(
        err.message,
        `SHA-1 of ${path} must be ${expected} (the official CIFAR-10 file), but is ${actual}; ` +
          'it was left in place: replace it with the official file, or delete it to have it fetched again',
      );
      return true;
    });

    assert.ok((await readFile(path)).equals(flipped), 'the file keeps its bytes');
    const after = await stat(path);
    assert.equal(after.mtimeMs, before.mtimeMs, 'the file is not rewritten');
    assert.deepEqual(sources[0]!.hits, [], 'no download from the official source');
    assert.deepEqual(sources[1]!.hits, [], 'no download from the mirror');
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.includes('.tmp-')),
      [],
      'no temporary file',
    );
  });

  test("the user's folder is refused the same way when named explicitly with owner 'user'", async () => {
    await copyRealWithFlip(dir, 'test_batch.bin');
    await assert.rejects(ensureCifar10({ cacheDir: dir, owner: 'user', ...offline() }), {
      name: 'Cifar10CorruptFileError',
      file: join(dir, 'test_batch.bin'),
    });
    assert.ok((await readdir(dir)).includes('test_batch.bin'));
  });
});

describe("ensureCifar10 in the project's cache", () => {
  test('offline, the corrupt file is removed and the final error says so', async () => {
    const name = 'data_batch_5.bin';
    await copyRealWithFlip(dir, name);
    await assert.rejects(ensureCifar10({ cacheDir: dir, owner: 'project', ...offline() }), (err: unknown) => {
      assert.ok(err instanceof Cifar10DownloadError);
      assert.equal(err.code, 'CIFAR10_ALL_SOURCES_FAILED');
      assert.match(
        err.message,
        new RegExp(
          `^could not fetch CIFAR-10 \\(${name}\\) into ${dir} \\(removed before fetching, having failed the SHA-1 check: ${name}\\): `,
        ),
      );
      return true;
    });
    assert.ok(!(await readdir(dir)).includes(name), 'the corrupt file is gone from the cache');
    assert.equal(sources[0]!.hits.length, 1, 'a download was tried');
  });
});

test('folderOwner: only the project cache folder is the project’s', () => {
  assert.equal(folderOwner('/home/u/.cache/gnet/cifar-10-batches-bin', '/home/u'), 'project');
  assert.equal(folderOwner('/home/u/.cache/gnet/x/../cifar-10-batches-bin/', '/home/u'), 'project');
  assert.equal(folderOwner('/data/cifar', '/home/u'), 'user');
  assert.equal(folderOwner('/home/u/.cache/gnet', '/home/u'), 'user');
  assert.equal(projectCacheDir('/home/u'), '/home/u/.cache/gnet/cifar-10-batches-bin');
});
