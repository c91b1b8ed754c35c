// Installs one exact npm release from the npm registry into <prefix>, checked against its pinned
// Subresource Integrity (the lockfile's `integrity` format), for the image build stages. The npm
// tarball carries all its dependencies (npm ships them bundled), so node alone can install it:
// Debian's own npm package (9.2) would pull ~400 Debian node-* packages into the build stage only to
// install the npm the lockfile is written with.
//
//   node fetch-npm.mjs <version> <sha512-...> <prefix>     ->  <prefix>/bin/npm, <prefix>/lib/node_modules/npm
//
// Uses node's TLS roots, plus NODE_EXTRA_CA_CERTS where a builder sits behind a TLS-intercepting proxy.
import { Buffer } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { URL } from 'node:url';

const [version, integrity, prefix] = process.argv.slice(2);
if (!version || !integrity?.startsWith('sha512-') || !prefix) {
  process.stderr.write('usage: node fetch-npm.mjs <version> <sha512-integrity> <prefix>\n');
  process.exit(2);
}
const registry = (process.env.npm_config_registry || 'https://registry.npmjs.org/').replace(/\/?$/, '/');
const url = `${registry}npm/-/npm-${version}.tgz`;

/** The body of `url` (following redirects), within 120 s. */
function download(from, redirects = 5) {
  return new Promise((resolve, reject) => {
    const req = get(from, { timeout: 120_000 }, (res) => {
      if (res.statusCode >= 300 && res.statusCode < 400 && res.headers.location && redirects > 0) {
        res.resume();
        resolve(download(new URL(res.headers.location, from).href, redirects - 1));
        return;
      }
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${from} answered ${res.statusCode}`));
        return;
      }
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${from} timed out after 120 s`)));
    req.on('error', reject);
  });
}

try {
  const tarball = await download(url);
  const actual = `sha512-${createHash('sha512').update(tarball).digest('base64')}`;
  if (actual !== integrity) throw new Error(`npm ${version} from ${url} has integrity ${actual}, expected ${integrity}`);
  const file = join(tmpdir(), `npm-${version}.tgz`);
  writeFileSync(file, tarball);
  const target = join(prefix, 'lib', 'node_modules', 'npm');
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  const tar = spawnSync('tar', ['-xzf', file, '-C', target, '--strip-components=1', '--no-same-owner'], { stdio: 'inherit' });
  rmSync(file);
  if (tar.status !== 0) throw new Error(`tar -xzf ${file} failed (exit ${tar.status ?? tar.signal})`);
  mkdirSync(join(prefix, 'bin'), { recursive: true });
  for (const bin of ['npm', 'npx']) {
    chmodSync(join(target, 'bin', `${bin}-cli.js`), 0o755);
    rmSync(join(prefix, 'bin', bin), { force: true });
    symlinkSync(`../lib/node_modules/npm/bin/${bin}-cli.js`, join(prefix, 'bin', bin));
  }
  process.stdout.write(`npm ${version} installed in ${prefix} (${tarball.length} bytes, ${integrity.slice(0, 20)}...)\n`);
} catch (err) {
  process.stderr.write(`fetch-npm.mjs: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
