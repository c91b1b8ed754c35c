import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseTrainConfig } from './train_config.js';

const at = new Date('2026-01-02T03:04:05.678Z');

test('defaults are the published recipe, frozen, with a timestamped run folder', () => {
  const cfg = parseTrainConfig([], {}, '/r', at);
  assert.equal(cfg.epochs, 100);
  assert.equal(cfg.batchSize, 128);
  assert.equal(cfg.lrPeak, 0.1);
  assert.equal(cfg.nesterov, true);
  assert.equal(cfg.auxHeads, true);
  assert.equal(cfg.width, 1);
  assert.equal(cfg.runDir, '/r/2026-01-02T03-04-05-678Z');
  assert.ok(Object.isFrozen(cfg));
});

test('flags and environment are read', () => {
  const cfg = parseTrainConfig(['--width', '0.25', '--no-aux-heads', '--lr', '0.05', '--backend', 'cpu'], { CIFAR10_DIR: '/data/c10' }, '/r', at);
  assert.deepEqual([cfg.width, cfg.auxHeads, cfg.lrPeak, cfg.backend, cfg.dataDir], [0.25, false, 0.05, 'cpu', '/data/c10']);
});

test('bad values are ConfigErrors naming the flag, the rule and the value', () => {
  const bad = (argv: string[], pattern: RegExp) =>
    assert.throws(() => parseTrainConfig(argv, {}, '/r', at), (e: unknown) => e instanceof ConfigError && e.code === 'CONFIG_INVALID' && pattern.test(e.message));
  bad(['--width', '0'], /^--width: .*but got 0$/);
  bad(['--epochs', 'ten'], /option '--epochs <n>' argument 'ten' is invalid\. Expected a finite number/);
  bad(['--batch-size', '12.5'], /^--batch-size: .*int.*but got 12\.5$/);
  bad(['--lr', '-1'], /^--lr: .*but got -1$/);
  bad(['--backend', 'webgl'], /argument 'webgl' is invalid/);
  bad(['--bogus'], /unknown option '--bogus'/);
});
