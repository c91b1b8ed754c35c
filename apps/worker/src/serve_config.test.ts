import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { parseServeConfig } from './serve_config.js';
import { ConfigError } from './train_config.js';

test('defaults dial the local coordinator on the torchrun port, environment supplies URL and token', () => {
  const cfg = parseServeConfig([], {}, 42);
  assert.deepEqual(
    [cfg.coordinator, cfg.token, cfg.workerId, cfg.peerHost, cfg.advertiseHost, cfg.peerPort],
    ['ws://127.0.0.1:29500', '', `${hostname()}-42`, '127.0.0.1', '127.0.0.1', 0],
  );
  assert.ok(Object.isFrozen(cfg));
  const env = parseServeConfig([], { GNET_COORDINATOR: 'ws://10.0.0.1:7000', GNET_TOKEN: 's', GNET_BACKEND: 'wasm' });
  assert.deepEqual([env.coordinator, env.token, env.backend], ['ws://10.0.0.1:7000', 's', 'wasm']);
});

test('listening on every interface advertises the host name unless told otherwise', () => {
  assert.equal(parseServeConfig(['--peer-host', '0.0.0.0'], {}).advertiseHost, hostname());
  assert.equal(parseServeConfig(['--peer-host', '0.0.0.0', '--advertise-host', 'node7'], {}).advertiseHost, 'node7');
});

test('--timeline is made absolute where the command was typed, with {workerId} filled in; empty by default', () => {
  assert.equal(parseServeConfig([], {}).timeline, '');
  assert.equal(
    parseServeConfig(['--timeline', 'traces/{workerId}.json', '--worker-id', 'w3'], { INIT_CWD: '/home/u/run' }).timeline,
    '/home/u/run/traces/w3.json',
  );
});

test('bad values are ConfigErrors naming the flag, the rule and the value', () => {
  const bad = (argv: string[], pattern: RegExp) =>
    assert.throws(
      () => parseServeConfig(argv, {}),
      (e: unknown) => e instanceof ConfigError && e.code === 'CONFIG_INVALID' && pattern.test(e.message),
      `expected ${String(pattern)}`,
    );
  bad(
    ['--coordinator', 'http://x:1'],
    /^--coordinator: expected a ws:\/\/ or wss:\/\/ URL with a host and a port of at most 65535, but got "http:\/\/x:1"$/,
  );
  bad(['--peer-port', '-1'], /^--peer-port: .*but got -1$/);
  bad(['--backend', 'webgl'], /argument 'webgl' is invalid/);
  bad(['--epochs', '3'], /unknown option '--epochs'/);
});

test('hostile values: bad URLs, hosts and ports, unknown flags, each a ConfigError naming the flag, what was expected and the value', () => {
  const url = (value: string): [string[], string] => [
    ['--coordinator', value],
    `--coordinator: expected a ws:// or wss:// URL with a host and a port of at most 65535, but got ${JSON.stringify(value)}`,
  ];
  const cases: Array<[string[], string]> = [
    url(''),
    url('ws://'),
    url('ws://:29500'),
    url('ws://10.0.0.1:99999'),
    url('ws://ho st:1'),
    url('10.0.0.1:29500'),
    url('tcp://10.0.0.1:29500'),
    [['--peer-port', '-1'], '--peer-port: Too small: expected number to be >=0, but got -1'],
    [['--peer-port', '65536'], '--peer-port: Too big: expected number to be <=65535, but got 65536'],
    [['--peer-port', 'NaN'], "option '--peer-port <n>' argument 'NaN' is invalid. Expected a finite number."],
    [['--peer-host', 'a b'], '--peer-host: expected an IP address or a host name, but got "a b"'],
    [['--advertise-host', 'ws://node7'], '--advertise-host: expected an IP address or a host name, but got "ws://node7"'],
    [['--advertise-host', 'node7:7001'], '--advertise-host: expected an IP address or a host name, but got "node7:7001"'],
    [['--connect-timeout-ms', '0'], '--connect-timeout-ms: Too small: expected number to be >0, but got 0'],
    [
      ['--coordinator-timeout-ms', 'Infinity'],
      "option '--coordinator-timeout-ms <n>' argument 'Infinity' is invalid. Expected a finite number.",
    ],
    [['--worker-id', ''], '--worker-id: Too small: expected string to have >=1 characters, but got ""'],
    [['--lr', '0.1'], "unknown option '--lr'"],
    [['ws://10.0.0.1:29500'], 'too many arguments. Expected 0 arguments but got 1.'],
  ];
  for (const [argv, message] of cases) {
    assert.throws(
      () => parseServeConfig(argv, {}),
      (e: unknown) => e instanceof ConfigError && e.code === 'CONFIG_INVALID' && e.message === message,
      `${argv.join(' ')} → ${message}`,
    );
  }
  // The environment goes through the same checks as the flag.
  assert.throws(
    () => parseServeConfig([], { GNET_COORDINATOR: 'ws://h:70000' }),
    (e: unknown) => e instanceof ConfigError && e.message === url('ws://h:70000')[1],
  );
  for (const good of [
    'ws://127.0.0.1:29500',
    'wss://coordinator.example.org:443/gnet',
    'ws://[::1]:29500',
    'ws://train_coordinator:29500',
  ]) {
    assert.equal(parseServeConfig(['--coordinator', good], {}).coordinator, good);
  }
});

test('--threads: 0 (all cores) by default, from GNET_THREADS or the flag, a ConfigError when not a non-negative integer', () => {
  assert.equal(parseServeConfig([], {}).threads, 0);
  assert.equal(parseServeConfig([], { GNET_THREADS: '3' }).threads, 3);
  assert.equal(parseServeConfig(['--threads', '1'], { GNET_THREADS: '3' }).threads, 1);
  assert.equal(parseServeConfig(['--backend', 'onednn'], {}).backend, 'onednn');
  for (const [argv, env] of [
    [['--threads', '-1'], {}],
    [['--threads', '1.5'], {}],
    [[], { GNET_THREADS: 'many' }],
  ] as const) {
    assert.throws(
      () => parseServeConfig([...argv], { ...env }),
      (e: unknown) => e instanceof ConfigError && /threads/.test(e.message),
      JSON.stringify([argv, env]),
    );
  }
});
