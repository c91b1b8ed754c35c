// TLS flags of worker:serve: --tls-ca (trust for wss://), --tls-cert / --tls-key (the ring
// listener serves wss://; both or neither), read at parse time so a bad file is a clear ConfigError.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseServeConfig } from './serve_config.js';
import { selfSignedCert } from '@gnet/collective/testing';
import { ConfigError } from './train_config.js';

/** A fresh temporary folder, removed when the file's tests end. */
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gnet-tls-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

test('TLS files resolve against INIT_CWD; none by default', async () => {
  assert.deepEqual((({ tlsCa, tlsCert, tlsKey }) => [tlsCa, tlsCert, tlsKey])(parseServeConfig([], {})), ['', '', '']);
  const dir = tempDir();
  const { cert, key } = await selfSignedCert();
  writeFileSync(join(dir, 'ca.pem'), cert);
  writeFileSync(join(dir, 'key.pem'), key);
  const cfg = parseServeConfig(
    ['--coordinator', 'wss://127.0.0.1:29500', '--tls-ca', 'ca.pem', '--tls-cert', 'ca.pem', '--tls-key', 'key.pem'],
    { INIT_CWD: dir },
  );
  assert.deepEqual(
    [cfg.coordinator, cfg.tlsCa, cfg.tlsCert, cfg.tlsKey],
    ['wss://127.0.0.1:29500', join(dir, 'ca.pem'), join(dir, 'ca.pem'), join(dir, 'key.pem')],
  );
});

test('a half-given pair, a missing CA and a file that is not PEM are ConfigErrors naming flag and file', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'not.pem'), 'hello');
  assert.equal(
    configError(() => parseServeConfig(['--tls-cert', join(dir, 'not.pem')], {})).message,
    '--tls-key must be given together with --tls-cert (both serve the ring listener as wss://, neither as ws://), but only --tls-cert was',
  );
  assert.match(
    configError(() => parseServeConfig(['--tls-ca', join(dir, 'nope.pem')], {})).message,
    new RegExp(`^--tls-ca: TLS CA certificate '${join(dir, 'nope.pem')}' cannot be read: ENOENT`),
  );
  assert.equal(
    configError(() => parseServeConfig(['--tls-ca', join(dir, 'not.pem')], {})).message,
    `--tls-ca: TLS CA certificate '${join(dir, 'not.pem')}' must be PEM text (-----BEGIN ...-----), but is not`,
  );
});
