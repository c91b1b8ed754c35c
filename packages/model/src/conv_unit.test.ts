// Tests for the conv + (BN | bias) + ReLU unit: training mode on batch statistics, inference mode
// with BatchNorm folded into a fused conv, and the variables it declares.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { BN_EPSILON } from './batch_norm.js';
import { applyConvUnit, makeConvUnit } from './conv_unit.js';
import { ParamBuilder } from './param_builder.js';

await tf.setBackend('cpu');

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

const x = tf.randomNormal([2, 6, 6, 5], 0, 1, 'float32', 11) as tf.Tensor4D;

describe('makeConvUnit', () => {
  it('declares kernel, BN params and BN buffers with the expected names and shapes', () => {
    const params = new ParamBuilder(1);
    makeConvUnit(params, 'inception_3a/b2_3x3', 3, 5, 4, true);
    assert.deepEqual(
      params.params.map((p) => [p.name, p.variable.shape, p.variable.trainable]),
      [
        ['inception_3a/b2_3x3/kernel', [3, 3, 5, 4], true],
        ['inception_3a/b2_3x3/bn/gamma', [4], true],
        ['inception_3a/b2_3x3/bn/beta', [4], true],
      ],
    );
    assert.deepEqual(
      params.buffers.map((p) => [p.name, p.variable.shape, p.variable.trainable]),
      [
        ['inception_3a/b2_3x3/bn/running_mean', [4], false],
        ['inception_3a/b2_3x3/bn/running_var', [4], false],
      ],
    );
    tf.dispose([...params.params, ...params.buffers].map((p) => p.variable));
  });

  it('draws He-normal kernels: std sqrt(2 / fanIn)', () => {
    const params = new ParamBuilder(3);
    const unit = makeConvUnit(params, 'c', 3, 64, 64, false); // fanIn 576, 36864 weights
    const values = Array.from(unit.kernel.dataSync());
    const std = Math.sqrt(values.reduce((a, v) => a + v * v, 0) / values.length);
    assert.ok(Math.abs(std - Math.sqrt(2 / 576)) < 0.002, `std ${std}`);
    assert.deepEqual(Array.from(unit.bias!.dataSync()), new Array(64).fill(0));
    tf.dispose(params.params.map((p) => p.variable));
  });
});

describe('applyConvUnit', () => {
  it('inference folds BN running statistics into a fused conv: relu(bn(conv(x)))', () => {
    const params = new ParamBuilder(5);
    const unit = makeConvUnit(params, 'c', 3, 5, 4, true);
    const bn = unit.bn!;
    bn.gamma.assign(tf.tensor1d([0.5, -1, 2, 1.5]));
    bn.beta.assign(tf.tensor1d([0.1, 0.2, -0.3, 0]));
    bn.running.mean.assign(tf.tensor1d([0.3, -0.2, 0.1, 1]));
    bn.running.variance.assign(tf.tensor1d([2, 0.5, 1, 3]));
    tf.tidy(() => {
      const z = tf.conv2d(x, unit.kernel as tf.Tensor4D, 1, 'same');
      const normalised = tf.div(tf.sub(z, bn.running.mean), tf.sqrt(tf.add(bn.running.variance, BN_EPSILON)));
      const expected = tf.relu(tf.add(tf.mul(normalised, bn.gamma), bn.beta));
      const actual = applyConvUnit(unit, x, false);
      assert.deepEqual(actual.shape, [2, 6, 6, 4]);
      assert.ok(maxAbsDiff(actual, expected) < 1e-5);
      assert.ok(tf.max(expected).dataSync()[0]! > 0.5, 'non-trivial output');
    });
    tf.dispose([...params.params, ...params.buffers].map((p) => p.variable));
  });

  it('training normalises with batch statistics', () => {
    const params = new ParamBuilder(6);
    const unit = makeConvUnit(params, 'c', 1, 5, 3, true);
    tf.tidy(() => {
      const z = tf.conv2d(x, unit.kernel as tf.Tensor4D, 1, 'same');
      const { mean, variance } = tf.moments(z, [0, 1, 2]);
      const expected = tf.relu(tf.div(tf.sub(z, mean), tf.sqrt(tf.add(variance, BN_EPSILON))));
      assert.ok(maxAbsDiff(applyConvUnit(unit, x, true), expected) < 1e-5);
    });
    assert.notDeepEqual(Array.from(unit.bn!.running.mean.dataSync()), [0, 0, 0], 'running mean moved');
    tf.dispose([...params.params, ...params.buffers].map((p) => p.variable));
  });

  it('without BatchNorm is relu(conv(x) + bias) in both modes', () => {
    const params = new ParamBuilder(7);
    const unit = makeConvUnit(params, 'c', 5, 5, 4, false);
    unit.bias!.assign(tf.tensor1d([0.5, -0.5, 0, 1]));
    tf.tidy(() => {
      const expected = tf.relu(tf.add(tf.conv2d(x, unit.kernel as tf.Tensor4D, 1, 'same'), unit.bias!));
      assert.ok(maxAbsDiff(applyConvUnit(unit, x, true), expected) < 1e-5);
      assert.ok(maxAbsDiff(applyConvUnit(unit, x, false), expected) < 1e-5);
    });
    tf.dispose(params.params.map((p) => p.variable));
  });
});
