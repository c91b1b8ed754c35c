import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, DEFAULT_COORDINATOR_PORT, parseCoordinatorConfig } from './coordinator_config.js';

const at = new Date('2026-01-02T03:04:05.678Z');
const parse = (argv: string[], env: Record<string, string> = {}) => parseCoordinatorConfig(argv, env, '/r', at);

test('defaults: loopback, torchrun port, ring, the published recipe, frozen', () => {
  const cfg = parse([]);
  assert.deepEqual(
    [cfg.host, cfg.port, cfg.algorithm, cfg.workers, cfg.localWorkers],
    ['127.0.0.1', DEFAULT_COORDINATOR_PORT, 'ring', 1, 0],
  );
  assert.deepEqual(
    [cfg.epochs, cfg.batchSize, cfg.lrPeak, cfg.nesterov, cfg.auxHeads, cfg.auxWeight, cfg.dropout],
    [100, 128, 0.1, true, true, 0.3, 0.4],
  );
  assert.equal(cfg.runDir, '/r/2026-01-02T03-04-05-678Z');
  assert.ok(Object.isFrozen(cfg));
});

test('--local-workers sets the world size; token and data come from the environment', () => {
  const cfg = parse(['--local-workers', '2', '--port', '0', '--algorithm', 'star', '--no-aux-heads'], {
    GNET_TOKEN: 't0k',
    CIFAR10_DIR: '/c',
  });
  assert.deepEqual([cfg.workers, cfg.localWorkers, cfg.port, cfg.algorithm, cfg.token, cfg.dataDir], [2, 2, 0, 'star', 't0k', '/c']);
  // Elastic bounds default to the starting group: no shrinking, no growing.
  assert.deepEqual([cfg.minWorkers, cfg.maxWorkers], [2, 2]);
  const elastic = parse(['--workers', '3', '--min-workers', '1', '--max-workers', '4', '--batch-size', '96'], {});
  assert.deepEqual([elastic.workers, elastic.minWorkers, elastic.maxWorkers], [3, 1, 4]);
  // No aux heads, no aux loss: the protocol refuses auxWeight > 0 without them.
  assert.equal(cfg.auxWeight, 0);
});

test('bad values are ConfigErrors naming the flag, the rule and the value', () => {
  const bad = (argv: string[], pattern: RegExp) =>
    assert.throws(
      () => parse(argv),
      (e: unknown) => e instanceof ConfigError && e.code === 'CONFIG_INVALID' && pattern.test(e.message),
      `expected ${String(pattern)}`,
    );
  bad(['--port', '70000'], /^--port: .*but got 70000$/);
  bad(['--chunk-bytes', '6'], /^--chunk-bytes: .*multiple of 4.*but got 6$/);
  bad(['--algorithm', 'tree'], /argument 'tree' is invalid/);
  bad(['--workers', '3', '--local-workers', '2'], /^--workers \(3\) must equal --local-workers \(2\) when both are given/);
  bad(
    ['--workers', '3', '--batch-size', '2'],
    /^--batch-size \(2\) must be at least --max-workers \(3\) so every worker gets an image of each global batch$/,
  );
  bad(['--workers', '2', '--min-workers', '3'], /^--min-workers \(3\) must not exceed --workers \(2\), the group the run starts with$/);
  bad(['--workers', '2', '--max-workers', '1'], /^--max-workers \(1\) must be at least --workers \(2\), the group the run starts with$/);
  bad(['--momentum', '0'], /^--momentum must be > 0 with Nesterov momentum, but got 0; pass --no-nesterov/);
  bad(['--bogus'], /unknown option '--bogus'/);
});

test('hostile values: each a ConfigError naming the flag, what was expected and the value', () => {
  const cases: Array<[string[], string]> = [
    [['--lr', '0'], '--lr: Too small: expected number to be >0, but got 0'],
    [['--lr', '-0.1'], '--lr: Too small: expected number to be >0, but got -0.1'],
    [['--lr', 'NaN'], "option '--lr <x>' argument 'NaN' is invalid. Expected a finite number."],
    [['--lr', 'Infinity'], "option '--lr <x>' argument 'Infinity' is invalid. Expected a finite number."],
    [['--lr', '1e400'], "option '--lr <x>' argument '1e400' is invalid. Expected a finite number."],
    [['--lr', ' '], "option '--lr <x>' argument ' ' is invalid. Expected a finite number."],
    [['--epochs', '-1'], '--epochs: Too small: expected number to be >0, but got -1'],
    [['--epochs', '0'], '--epochs: Too small: expected number to be >0, but got 0'],
    [['--batch-size', '0'], '--batch-size: Too small: expected number to be >0, but got 0'],
    [['--batch-size', '-32'], '--batch-size: Too small: expected number to be >0, but got -32'],
    [['--warmup-epochs', '-1'], '--warmup-epochs: Too small: expected number to be >=0, but got -1'],
    [['--workers', '0'], '--workers must be at least 1 (leave it out to use --local-workers), but got 0'],
    [['--workers', '-2'], '--workers: Too small: expected number to be >=0, but got -2'],
    [['--workers', '1.5'], '--workers: Invalid input: expected int, received number, but got 1.5'],
    [['--local-workers', '-1'], '--local-workers: Too small: expected number to be >=0, but got -1'],
    [['--local-workers', '65'], '--local-workers: Too big: expected number to be <=64, but got 65'],
    [
      ['--local-workers', '3', '--workers', '2'],
      '--workers (2) must equal --local-workers (3) when both are given; drop --workers to wait for the local ones only',
    ],
    [['--port', '-1'], '--port: Too small: expected number to be >=0, but got -1'],
    [['--port', '65536'], '--port: Too big: expected number to be <=65535, but got 65536'],
    [['--port', 'http'], "option '--port <n>' argument 'http' is invalid. Expected a finite number."],
    [['--host', ''], '--host: expected an IP address or a host name, but got ""'],
    [['--host', 'ws://10.0.0.1'], '--host: expected an IP address or a host name, but got "ws://10.0.0.1"'],
    [['--host', '10.0.0.1:29500'], '--host: expected an IP address or a host name, but got "10.0.0.1:29500"'],
    [['--host', 'my host'], '--host: expected an IP address or a host name, but got "my host"'],
    [['--heartbeat-ms', '0'], '--heartbeat-ms: Too small: expected number to be >0, but got 0'],
    [['--lr'], "option '--lr <x>' argument missing"],
    [['--learning-rate', '0.1'], "unknown option '--learning-rate'"],
    [['0.1'], 'too many arguments. Expected 0 arguments but got 1.'],
  ];
  for (const [argv, message] of cases) {
    assert.throws(
      () => parse(argv),
      (e: unknown) => e instanceof ConfigError && e.code === 'CONFIG_INVALID' && e.message === message,
      `${argv.join(' ')} → ${message}`,
    );
  }
  // What --host does take: addresses of either family, names, names with `_` (container names).
  for (const host of ['0.0.0.0', '::', '::1', '10.1.2.3', 'localhost', 'node-7.cluster.local', 'train_coordinator'])
    assert.equal(parse(['--host', host]).host, host);
});
