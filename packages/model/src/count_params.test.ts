// Tests for the analytic parameter count: pinned values at width 1 and 0.25, equal to the
// elements of the variables createGoogLeNet actually builds, and the layer plan behind it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { countParams } from './count_params.js';
import { createGoogLeNet } from './googlenet.js';
import { planGoogLeNet } from './layer_plan.js';
import { resolveGoogLeNetConfig, type GoogLeNetConfig } from './config.js';
import { ModelConfigError } from './errors.js';

await tf.setBackend('cpu');

const elements = (list: readonly { variable: tf.Variable }[]): number => list.reduce((n, p) => n + p.variable.size, 0);

describe('countParams', () => {
  // Pinned: a change to the table, the heads or the BN/bias rule shows up here.
  const cases: [Partial<GoogLeNetConfig>, { total: number; main: number; aux: number; buffers: number }][] = [
    [{}, { total: 10_222_398, main: 5_871_914, aux: 4_350_484, buffers: 14_816 }],
    [{ auxHeads: false }, { total: 5_871_914, main: 5_871_914, aux: 0, buffers: 14_304 }],
    [{ batchNorm: false }, { total: 10_214_990, main: 5_864_762, aux: 4_350_228, buffers: 0 }],
    [
      { batchNorm: false, auxHeads: false },
      { total: 5_864_762, main: 5_864_762, aux: 0, buffers: 0 },
    ],
    [{ width: 0.25 }, { total: 648_822, main: 372_578, aux: 276_244, buffers: 3_704 }],
  ];

  for (const [config, expected] of cases) {
    it(`pins ${JSON.stringify(config)} and matches the created variables`, () => {
      assert.deepEqual(countParams(config), expected);
      const model = createGoogLeNet(config, 0);
      try {
        assert.equal(elements(model.params), expected.total);
        assert.equal(elements(model.params.filter((p) => !p.name.startsWith('aux_'))), expected.main);
        assert.equal(elements(model.buffers), expected.buffers);
        assert.equal(elements(model.inference().params), expected.main);
      } finally {
        model.dispose();
      }
    });
  }

  it('counts the stem and the classifier by hand', () => {
    // Stem 3x3x3x192 + BN (2x192); classifier 1024x10 + 10.
    const withoutBlocks = 3 * 3 * 3 * 192 + 2 * 192 + 1024 * 10 + 10;
    const blocks = planGoogLeNet(resolveGoogLeNetConfig({ auxHeads: false }))
      .filter((l) => l.name.startsWith('inception_'))
      .reduce((n, l) => n + l.kernelSize ** 2 * l.inChannels * l.outChannels + 2 * l.outChannels, 0);
    assert.equal(countParams({ auxHeads: false }).main, withoutBlocks + blocks);
  });

  it('refuses a bad config, naming countParams', () => {
    assert.throws(
      () => countParams({ width: -1 }),
      (err: unknown) => {
        assert.ok(err instanceof ModelConfigError);
        assert.equal(err.code, 'MODEL_ERR_CONFIG');
        assert.equal(err.message, '`width` passed to `countParams` must be a number in (0, 4], but got -1');
        return true;
      },
    );
  });
});

describe('planGoogLeNet', () => {
  it('describes exactly the kernels createGoogLeNet builds (names and shapes)', () => {
    const config = resolveGoogLeNetConfig({ width: 0.25 });
    const model = createGoogLeNet(config, 0);
    try {
      const kernels = model.params.filter((p) => p.name.endsWith('/kernel'));
      const plan = planGoogLeNet(config);
      assert.deepEqual([...kernels.map((p) => p.name)].sort(), plan.map((l) => `${l.name}/kernel`).sort());
      for (const layer of plan) {
        const kernel = kernels.find((p) => p.name === `${layer.name}/kernel`)!;
        const k = layer.kernelSize;
        const shape = layer.kind === 'conv' ? [k, k, layer.inChannels, layer.outChannels] : [layer.inChannels, layer.outChannels];
        assert.deepEqual(kernel.variable.shape, shape, layer.name);
      }
    } finally {
      model.dispose();
    }
  });

  it('follows the spatial sizes of Table 1 at 32x32: 32, 16 after pool3, 8 after pool4, 4 in aux heads', () => {
    const plan = planGoogLeNet(resolveGoogLeNetConfig());
    const sizeOf = (name: string): number => plan.find((l) => l.name === name)!.size;
    assert.equal(sizeOf('stem'), 32);
    assert.equal(sizeOf('inception_3b/b3_5x5'), 32);
    assert.equal(sizeOf('inception_4a/b1_1x1'), 16);
    assert.equal(sizeOf('inception_4e/b4_pool_proj'), 16);
    assert.equal(sizeOf('inception_5b/b2_3x3'), 8);
    assert.equal(sizeOf('aux_4d/conv1x1'), 4);
    assert.deepEqual(
      plan.filter((l) => l.aux).map((l) => l.name),
      ['aux_4a/conv1x1', 'aux_4a/fc', 'aux_4a/classifier', 'aux_4d/conv1x1', 'aux_4d/fc', 'aux_4d/classifier'],
    );
  });
});
