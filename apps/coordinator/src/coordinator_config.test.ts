import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, DEFAULT_COORDINATOR_PORT, parseCoordinatorConfig } from './coordinator_config.js';

const at = new Date('2026-01-02T03:04:05.678Z');
const parse = (argv: string[], env: Record<string, string> = {}) => parseCoordinatorConfig(argv, env, '/r', at);

test('defaults: loopback, torchrun port, ring, the published recipe, frozen', () => {
  const cfg = parse([]);
  assert.deepEqual([cfg.host, cfg.port, cfg.algorithm, cfg.workers, cfg.localWorkers], ['127.0.0.1', DEFAULT_COORDINATOR_PORT, 'ring', 1, 0]);
  assert.deepEqual([cfg.epochs, cfg.batchSize, cfg.lrPeak, cfg.nesterov, cfg.auxHeads, cfg.auxWeight, cfg.dropout], [100, 128, 0.1, true, true, 0.3, 0.4]);
  assert.equal(cfg.runDir, '/r/2026-01-02T03-04-05-678Z');
  assert.ok(Object.isFrozen(cfg));
});

test('--local-workers sets the world size; token and data come from the environment', () => {
  const cfg = parse(['--local-workers', '2', '--port', '0', '--algorithm', 'star', '--no-aux-heads'], { GNET_TOKEN: 't0k', CIFAR10_DIR: '/c' });
  assert.deepEqual([cfg.workers, cfg.localWorkers, cfg.port, cfg.algorithm, cfg.token, cfg.dataDir], [2, 2, 0, 'star', 't0k', '/c']);
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
  bad(['--workers', '3', '--batch-size', '64'], /^--batch-size must be a positive multiple of the world size \(3\), but got 64$/);
  bad(['--momentum', '0'], /^--momentum must be > 0 with Nesterov momentum, but got 0; pass --no-nesterov/);
  bad(['--bogus'], /unknown option '--bogus'/);
});
