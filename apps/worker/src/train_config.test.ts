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
  const cfg = parseTrainConfig(
    ['--width', '0.25', '--no-aux-heads', '--lr', '0.05', '--backend', 'cpu'],
    { CIFAR10_DIR: '/data/c10' },
    '/r',
    at,
  );
  assert.deepEqual([cfg.width, cfg.auxHeads, cfg.lrPeak, cfg.backend, cfg.dataDir], [0.25, false, 0.05, 'cpu', '/data/c10']);
});

test('bad values are ConfigErrors naming the flag, the rule and the value', () => {
  const bad = (argv: string[], pattern: RegExp) =>
    assert.throws(
      () => parseTrainConfig(argv, {}, '/r', at),
      (e: unknown) => e instanceof ConfigError && e.code === 'CONFIG_INVALID' && pattern.test(e.message),
    );
  bad(['--width', '0'], /^--width: .*but got 0$/);
  bad(['--epochs', 'ten'], /option '--epochs <n>' argument 'ten' is invalid\. Expected a finite number/);
  bad(['--batch-size', '12.5'], /^--batch-size: .*int.*but got 12\.5$/);
  bad(['--lr', '-1'], /^--lr: .*but got -1$/);
  bad(['--backend', 'webgl'], /argument 'webgl' is invalid/);
  bad(['--bogus'], /unknown option '--bogus'/);
});

test('checkpoint flags: every N steps (0 = epoch ends) and how many to keep (>= 1)', () => {
  const defaults = parseTrainConfig([], {}, '/r', at);
  assert.deepEqual([defaults.checkpointEverySteps, defaults.keepCheckpoints], [0, 3]);
  const cfg = parseTrainConfig(['--checkpoint-every-steps', '50', '--keep-checkpoints', '5'], {}, '/r', at);
  assert.deepEqual([cfg.checkpointEverySteps, cfg.keepCheckpoints], [50, 5]);
  assert.throws(
    () => parseTrainConfig(['--keep-checkpoints', '0'], {}, '/r', at),
    (e: unknown) => e instanceof ConfigError && e.code === 'CONFIG_INVALID' && /^--keep-checkpoints: .*but got 0$/.test(e.message),
  );
  assert.throws(
    () => parseTrainConfig(['--checkpoint-every-steps', '-1'], {}, '/r', at),
    (e: unknown) => e instanceof ConfigError && /^--checkpoint-every-steps: .*but got -1$/.test(e.message),
  );
});

test('hostile values: each a ConfigError naming the flag, what was expected and the value', () => {
  const cases: Array<[string[], string]> = [
    [['--lr', '0'], '--lr: Too small: expected number to be >0, but got 0'],
    [['--lr', '-0.5'], '--lr: Too small: expected number to be >0, but got -0.5'],
    [['--lr', 'NaN'], "option '--lr <x>' argument 'NaN' is invalid. Expected a finite number."],
    [['--lr', '-Infinity'], "option '--lr <x>' argument '-Infinity' is invalid. Expected a finite number."],
    [['--epochs', '-3'], '--epochs: Too small: expected number to be >0, but got -3'],
    [['--epochs', '0'], '--epochs: Too small: expected number to be >0, but got 0'],
    [['--batch-size', '0'], '--batch-size: Too small: expected number to be >0, but got 0'],
    [['--batch-size', '-128'], '--batch-size: Too small: expected number to be >0, but got -128'],
    [['--micro-batch', '0'], '--micro-batch: Too small: expected number to be >0, but got 0'],
    [['--momentum', '1'], '--momentum: Too big: expected number to be <1, but got 1'],
    [['--weight-decay', '-1e-4'], '--weight-decay: Too small: expected number to be >=0, but got -0.0001'],
    [['--width', '1e309'], "option '--width <x>' argument '1e309' is invalid. Expected a finite number."],
    [['--seed', '-1'], '--seed: Too small: expected number to be >=0, but got -1'],
    [['--train-limit', '-1'], '--train-limit: Too small: expected number to be >=0, but got -1'],
    [['--workers', '2'], "unknown option '--workers'"],
    [['--epochs'], "option '--epochs <n>' argument missing"],
    [['10'], 'too many arguments. Expected 0 arguments but got 1.'],
  ];
  for (const [argv, message] of cases) {
    assert.throws(
      () => parseTrainConfig(argv, {}, '/r', at),
      (e: unknown) => e instanceof ConfigError && e.code === 'CONFIG_INVALID' && e.message === message,
      `${argv.join(' ')} → ${message}`,
    );
  }
});

test("--require-gpu / GNET_REQUIRE_GPU turn auto and tensorflow into 'tensorflow-gpu'; a CPU backend beside it is a ConfigError", () => {
  const backend = (argv: string[], env: Record<string, string> = {}) => parseTrainConfig(argv, env, '/r', at).backend;
  assert.equal(backend([]), 'auto');
  assert.equal(backend(['--require-gpu']), 'tensorflow-gpu');
  assert.equal(backend(['--backend', 'tensorflow', '--require-gpu']), 'tensorflow-gpu');
  assert.equal(backend(['--backend', 'tensorflow-gpu']), 'tensorflow-gpu');
  assert.equal(backend([], { GNET_REQUIRE_GPU: '1', GNET_BACKEND: 'tensorflow' }), 'tensorflow-gpu');
  assert.equal(backend([], { GNET_REQUIRE_GPU: '0' }), 'auto');
  assert.throws(
    () => parseTrainConfig(['--backend', 'onednn', '--require-gpu'], {}, '/r', at),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.message === '--require-gpu (native TensorFlow on a GPU) conflicts with --backend onednn, a CPU backend; drop one of the two',
  );
  assert.throws(
    () => parseTrainConfig([], { GNET_REQUIRE_GPU: 'yes' }, '/r', at),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.code === 'CONFIG_INVALID' &&
      e.message === 'GNET_REQUIRE_GPU must be 1, true, 0 or false, but got "yes"',
  );
});
