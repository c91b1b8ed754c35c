// The tools' flags: defaults, environment fallbacks, and ConfigError messages naming the flag.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../train_config.js';
import { parseEvaluateConfig, parseExportConfig, parsePredictConfig } from './tool_config.js';

const configError = (message: string) => (err: unknown) => {
  assert.ok(err instanceof ConfigError, `ConfigError, got ${String(err)}`);
  assert.equal(err.code, 'CONFIG_INVALID');
  assert.equal(err.message, message);
  return true;
};

describe('tool flags', () => {
  it('evaluate: defaults and environment', () => {
    assert.deepEqual(
      { ...parseEvaluateConfig(['--checkpoint', 'a.ckpt'], { CIFAR10_DIR: '/data', GNET_BACKEND: 'cpu' }) },
      { checkpoint: 'a.ckpt', backend: 'cpu', logLevel: 'warn', dataDir: '/data', batchSize: 100, limit: 0, json: false },
    );
    const cfg = parseEvaluateConfig(['--checkpoint', 'a.ckpt', '--limit', '500', '--batch-size', '50', '--json', '--backend', 'wasm'], {});
    assert.deepEqual([cfg.limit, cfg.batchSize, cfg.json, cfg.backend, cfg.dataDir], [500, 50, true, 'wasm', '']);
    assert.ok(Object.isFrozen(cfg));
  });

  it('evaluate: refuses bad values, naming the flag', () => {
    assert.throws(() => parseEvaluateConfig([], {}), configError("required option '--checkpoint <file>' not specified"));
    assert.throws(
      () => parseEvaluateConfig(['--checkpoint', 'a', '--limit', '20000'], {}),
      configError('--limit: Too big: expected number to be <=10000, but got 20000'),
    );
    assert.throws(
      () => parseEvaluateConfig(['--checkpoint', 'a', '--batch-size', '0'], {}),
      configError('--batch-size: Too small: expected number to be >0, but got 0'),
    );
    assert.throws(
      () => parseEvaluateConfig(['--checkpoint', 'a', '--backend', 'gpu'], {}),
      configError(
        "option '--backend <name>' argument 'gpu' is invalid. Allowed choices are auto, tensorflow, tensorflow-gpu, onednn, wasm, cpu.",
      ),
    );
  });

  it('predict: images and --top-k', () => {
    const cfg = parsePredictConfig(['--checkpoint', 'a.ckpt', 'cat.png', 'dog.jpg', '--top-k', '5'], {});
    assert.deepEqual([...cfg.images], ['cat.png', 'dog.jpg']);
    assert.equal(cfg.topK, 5);
    assert.equal(parsePredictConfig(['--checkpoint', 'a', 'x.png'], {}).topK, 3);
    assert.throws(() => parsePredictConfig(['--checkpoint', 'a'], {}), configError("missing required argument 'image'"));
    assert.throws(
      () => parsePredictConfig(['--checkpoint', 'a', '--top-k', '1.5', 'x.png'], {}),
      configError('--top-k: Invalid input: expected int, received number, but got 1.5'),
    );
  });

  it('export: --out required, --format layers only', () => {
    assert.deepEqual(
      { ...parseExportConfig(['--checkpoint', 'a', '--out', 'web'], {}) },
      { checkpoint: 'a', backend: 'auto', logLevel: 'warn', out: 'web', format: 'layers', json: false },
    );
    assert.throws(() => parseExportConfig(['--checkpoint', 'a'], {}), configError("required option '--out <dir>' not specified"));
    assert.throws(
      () => parseExportConfig(['--checkpoint', 'a', '--out', 'w', '--format', 'graph'], {}),
      configError("option '--format <name>' argument 'graph' is invalid. Allowed choices are layers."),
    );
  });
});
