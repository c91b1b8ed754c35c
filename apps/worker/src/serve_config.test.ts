import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { parseServeConfig } from './serve_config.js';
import { ConfigError } from './train_config.js';

test('defaults dial the local coordinator on the torchrun port, environment supplies URL and token', () => {
  const cfg = parseServeConfig([], {}, 42);
  assert.deepEqual([cfg.coordinator, cfg.token, cfg.workerId, cfg.peerHost, cfg.advertiseHost, cfg.peerPort], ['ws://127.0.0.1:29500', '', `${hostname()}-42`, '127.0.0.1', '127.0.0.1', 0]);
  assert.ok(Object.isFrozen(cfg));
  const env = parseServeConfig([], { GNET_COORDINATOR: 'ws://10.0.0.1:7000', GNET_TOKEN: 's', GNET_BACKEND: 'wasm' });
  assert.deepEqual([env.coordinator, env.token, env.backend], ['ws://10.0.0.1:7000', 's', 'wasm']);
});

test('listening on every interface advertises the host name unless told otherwise', () => {
  assert.equal(parseServeConfig(['--peer-host', '0.0.0.0'], {}).advertiseHost, hostname());
  assert.equal(parseServeConfig(['--peer-host', '0.0.0.0', '--advertise-host', 'node7'], {}).advertiseHost, 'node7');
});

test('bad values are ConfigErrors naming the flag, the rule and the value', () => {
  const bad = (argv: string[], pattern: RegExp) =>
    assert.throws(() => parseServeConfig(argv, {}), (e: unknown) => e instanceof ConfigError && e.code === 'CONFIG_INVALID' && pattern.test(e.message), `expected ${String(pattern)}`);
  bad(['--coordinator', 'http://x:1'], /^--coordinator: expected a ws:\/\/ or wss:\/\/ URL, but got "http:\/\/x:1"$/);
  bad(['--peer-port', '-1'], /^--peer-port: .*but got -1$/);
  bad(['--backend', 'webgl'], /argument 'webgl' is invalid/);
  bad(['--epochs', '3'], /unknown option '--epochs'/);
});
