// --tls-cert / --tls-key: both or neither, resolved against the folder the command was typed in,
// and read at parse time so a missing or mismatched file ends the process with a clear ConfigError.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError, parseCoordinatorConfig } from './coordinator_config.js';
import { selfSignedCert } from '@gnet/collective/testing';

/** A fresh temporary folder, removed when the file's tests end. */
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gnet-tls-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const parse = (argv: string[], env: Record<string, string> = {}) => parseCoordinatorConfig(argv, env, '/r', new Date(0));

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'CONFIG_INVALID');
    return err;
  }
  assert.fail('expected a ConfigError');
}

test('no TLS flags: plain ws://', () => {
  const cfg = parse([]);
  assert.deepEqual([cfg.tlsCert, cfg.tlsKey], ['', '']);
});

test('a certificate and its key, relative to INIT_CWD, are accepted as absolute paths', async () => {
  const dir = tempDir();
  const { cert, key } = await selfSignedCert();
  writeFileSync(join(dir, 'cert.pem'), cert);
  writeFileSync(join(dir, 'key.pem'), key);
  const cfg = parse(['--tls-cert', 'cert.pem', '--tls-key', 'key.pem'], { INIT_CWD: dir });
  assert.deepEqual([cfg.tlsCert, cfg.tlsKey], [join(dir, 'cert.pem'), join(dir, 'key.pem')]);
});

test('one without the other, a missing file and a key of another certificate are ConfigErrors naming the flags and files', async () => {
  const dir = tempDir();
  const first = await selfSignedCert();
  const second = await selfSignedCert();
  writeFileSync(join(dir, 'cert.pem'), first.cert);
  writeFileSync(join(dir, 'other-key.pem'), second.key);
  assert.equal(
    configError(() => parse(['--tls-cert', join(dir, 'cert.pem')])).message,
    '--tls-key must be given together with --tls-cert (both serve wss://, neither serves ws://), but only --tls-cert was',
  );
  assert.equal(
    configError(() => parse(['--tls-key', join(dir, 'other-key.pem')])).message,
    '--tls-cert must be given together with --tls-key (both serve wss://, neither serves ws://), but only --tls-key was',
  );
  assert.match(
    configError(() => parse(['--tls-cert', join(dir, 'missing.pem'), '--tls-key', join(dir, 'other-key.pem')])).message,
    new RegExp(`^--tls-cert / --tls-key: TLS certificate '${join(dir, 'missing.pem')}' cannot be read: ENOENT`),
  );
  assert.match(
    configError(() => parse(['--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'other-key.pem')])).message,
    new RegExp(
      `^--tls-cert / --tls-key: TLS certificate '${join(dir, 'cert.pem')}' and private key '${join(dir, 'other-key.pem')}' cannot be used together: .*key values mismatch`,
    ),
  );
});
