// Tests for GoogLeNet config resolution and validation.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultGoogLeNetConfig, resolveGoogLeNetConfig, scaleChannels, checkSeed, type GoogLeNetConfig } from './config.js';
import { ModelConfigError } from './errors.js';

function assertConfigError(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ModelConfigError);
    assert.equal(err.code, 'MODEL_ERR_CONFIG');
    assert.equal(err.name, 'ModelConfigError');
    assert.equal(err.message, message);
    return true;
  });
}

describe('resolveGoogLeNetConfig', () => {
  it('fills defaults from the paper and freezes the result', () => {
    const cfg = resolveGoogLeNetConfig({ width: 0.5 });
    assert.deepEqual(cfg, { width: 0.5, auxHeads: true, batchNorm: true, numClasses: 10, dropout: 0.4, auxDropout: 0.7 });
    assert.ok(Object.isFrozen(cfg));
    assert.deepEqual(resolveGoogLeNetConfig(), defaultGoogLeNetConfig);
  });

  it('accepts the edges of each range', () => {
    assert.equal(resolveGoogLeNetConfig({ width: 4 }).width, 4);
    assert.equal(resolveGoogLeNetConfig({ width: 1e-3 }).width, 1e-3);
    assert.equal(resolveGoogLeNetConfig({ dropout: 0, auxDropout: 0 }).dropout, 0);
    assert.equal(resolveGoogLeNetConfig({ numClasses: 1 }).numClasses, 1);
  });

  it('refuses out-of-range fields, naming field, caller, expectation and value', () => {
    assertConfigError(
      () => resolveGoogLeNetConfig({ width: 5 }, 'createGoogLeNet'),
      '`width` passed to `createGoogLeNet` must be a number in (0, 4], but got 5',
    );
    assertConfigError(
      () => resolveGoogLeNetConfig({ width: 0 }),
      '`width` passed to `resolveGoogLeNetConfig` must be a number in (0, 4], but got 0',
    );
    assertConfigError(
      () => resolveGoogLeNetConfig({ width: Number.NaN }),
      '`width` passed to `resolveGoogLeNetConfig` must be a number in (0, 4], but got NaN',
    );
    assertConfigError(
      () => resolveGoogLeNetConfig({ numClasses: 2.5 }),
      '`numClasses` passed to `resolveGoogLeNetConfig` must be a positive integer, but got 2.5',
    );
    assertConfigError(
      () => resolveGoogLeNetConfig({ dropout: 1 }),
      '`dropout` passed to `resolveGoogLeNetConfig` must be a rate in [0, 1), but got 1',
    );
    assertConfigError(
      () => resolveGoogLeNetConfig({ auxDropout: -0.1 }),
      '`auxDropout` passed to `resolveGoogLeNetConfig` must be a rate in [0, 1), but got -0.1',
    );
    assertConfigError(
      () => resolveGoogLeNetConfig({ batchNorm: 'yes' } as unknown as GoogLeNetConfig),
      '`batchNorm` passed to `resolveGoogLeNetConfig` must be a boolean, but got yes',
    );
    assertConfigError(
      () => resolveGoogLeNetConfig({ auxHeads: 1 } as unknown as GoogLeNetConfig),
      '`auxHeads` passed to `resolveGoogLeNetConfig` must be a boolean, but got 1',
    );
  });

  it('refuses unknown keys instead of ignoring a misspelling', () => {
    assertConfigError(
      () => resolveGoogLeNetConfig({ widht: 2 } as unknown as GoogLeNetConfig, 'countParams'),
      '`config` passed to `countParams` has unknown key `widht` ' + '(known: width, auxHeads, batchNorm, numClasses, dropout, auxDropout)',
    );
  });

  it('refuses a non-object config', () => {
    assertConfigError(
      () => resolveGoogLeNetConfig(null as unknown as GoogLeNetConfig),
      '`config` passed to `resolveGoogLeNetConfig` must be an object, but got null',
    );
  });
});

describe('scaleChannels', () => {
  it('rounds the scaled count and never drops below one channel', () => {
    assert.equal(scaleChannels(192, 1), 192);
    assert.equal(scaleChannels(192, 0.25), 48);
    assert.equal(scaleChannels(208, 0.125), 26);
    assert.equal(scaleChannels(24, 0.0625), 2); // 1.5 rounds up
    assert.equal(scaleChannels(16, 0.01), 1);
    assert.equal(scaleChannels(1024, 4), 4096);
  });
});

describe('checkSeed', () => {
  it('accepts safe integers and refuses anything else', () => {
    assert.equal(checkSeed(-3, 'seed', 'f'), -3);
    assertConfigError(
      () => checkSeed(1.5, 'seed', 'createGoogLeNet'),
      '`seed` passed to `createGoogLeNet` must be a safe integer, but got 1.5',
    );
    assertConfigError(
      () => checkSeed('7', 'opts.seed', 'GoogLeNet.forward'),
      '`opts.seed` passed to `GoogLeNet.forward` must be a safe integer, but got 7',
    );
  });
});
