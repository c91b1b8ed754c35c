// Builds the oneDNN addon with the node-gyp that ships inside npm (run it as `npm run build:native`,
// which tells scripts where that node-gyp is; `npx node-gyp` would try to fetch a different one).
//
// node-gyp downloads Node's headers unless `nodedir` names a folder that has them, and these
// machines are offline. When npm has no `nodedir` configured, this uses the headers installed beside
// the running node: Debian's nodejs puts them in /usr/include/node, nodejs.org's tarballs in
// <prefix>/include/node. A fixed `nodedir=/usr` in an .npmrc would instead break builds under a
// node installed elsewhere, and an .npmrc inside a workspace package is not read by npm anyway.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const nativeDir = dirname(fileURLToPath(import.meta.url));

// `--optional` (npm's install step): a machine without oneDNN still installs; the project then
// trains on wasm and its backend log line says what to install for the fast path.
const optional = process.argv.includes('--optional');
function fail(message) {
  process.stderr.write(`build.mjs: ${message}\n`);
  if (optional) process.stderr.write('build.mjs: the oneDNN backend is optional: continuing without it (training falls back to wasm)\n');
  process.exit(optional ? 0 : 1);
}

// Without oneDNN's headers the compile would fail with a page of errors: say what to install.
const DNNL_HEADERS = ['/usr/include/dnnl.hpp', '/usr/local/include/dnnl.hpp'];
if (!DNNL_HEADERS.some((p) => existsSync(p)) && !process.env.CPATH) {
  fail(
    `oneDNN is not installed (no ${DNNL_HEADERS.join(' or ')}): apt-get install libdnnl-dev (Debian/Ubuntu), then npm run build:native -w @gnet/native-cpu; without it the project trains on wasm`,
  );
}
const args = ['rebuild', `--directory=${nativeDir}`];

if (!process.env.npm_config_nodedir) {
  const prefix = dirname(dirname(process.execPath));
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
}

// npm tells scripts where its node-gyp is (npm_config_node_gyp); outside npm there is no node-gyp.
const nodeGyp = process.env.npm_config_node_gyp;
if (!nodeGyp || !existsSync(nodeGyp)) {
  fail('npm did not name its node-gyp (npm_config_node_gyp); run this as `npm run build:native`');
}
const result = spawnSync(process.execPath, [nodeGyp, ...args], { stdio: 'inherit' });
if (result.status !== 0) fail(`node-gyp ${args[0]} failed (exit ${result.status ?? result.signal})`);
