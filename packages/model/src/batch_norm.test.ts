// Tests for the custom-gradient BatchNorm: forward and gradients against tfjs autodiff of the
// textbook formula, running statistics, no Tile/FusedBatchNorm kernels, no leaked tensors.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { BN_EPSILON, batchNormTrain, foldBatchNorm } from './batch_norm.js';
import { biasAdd } from './bias_add.js';

await tf.setBackend('cpu');

/** Asserts |a - b| <= tol * max(1, |b|) elementwise. */
function assertClose(actual: tf.Tensor, expected: tf.Tensor, tol: number, what: string): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const a = actual.dataSync();
  const b = expected.dataSync();
  for (let i = 0; i < b.length; i++) {
    const err = Math.abs(a[i]! - b[i]!);
    assert.ok(err <= tol * Math.max(1, Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

/** The textbook formula, differentiated by tfjs autodiff. */
function naiveBatchNorm(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D): tf.Tensor4D {
  const mean = tf.mean(x, [0, 1, 2]);
  const variance = tf.mean(tf.square(tf.sub(x, mean)), [0, 1, 2]);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, BN_EPSILON))), gamma), beta);
}

// Off-centre, non-unit inputs so that mean and variance matter: x ~ N(3, 2^2).
const shape: [number, number, number, number] = [4, 5, 5, 6];
const x = tf.add(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', 1), 2), 3) as tf.Tensor4D;
const gamma = tf.randomNormal([6], 1, 0.5, 'float32', 2) as tf.Tensor1D;
const beta = tf.randomNormal([6], 0, 1, 'float32', 3) as tf.Tensor1D;
const upstream = tf.randomNormal(shape, 0, 1, 'float32', 4); // dL/dy

describe('batchNormTrain', () => {
  it('computes the same output as the textbook formula', () => {
    tf.tidy(() => assertClose(batchNormTrain(x, gamma, beta), naiveBatchNorm(x, gamma, beta), 1e-5, 'y'));
  });

  it('has the gradients of the textbook formula under tfjs autodiff (tol 1e-4)', () => {
    tf.tidy(() => {
      const loss =
        (bn: typeof naiveBatchNorm) =>
        (...args: tf.Tensor[]): tf.Scalar =>
          tf.sum(tf.mul(bn(args[0] as tf.Tensor4D, args[1] as tf.Tensor1D, args[2] as tf.Tensor1D), upstream));
      const ours = tf.grads(loss(batchNormTrain))([x, gamma, beta]);
      const reference = tf.grads(loss(naiveBatchNorm))([x, gamma, beta]);
      ['dx', 'dgamma', 'dbeta'].forEach((what, i) => assertClose(ours[i]!, reference[i]!, 1e-4, what));
      // dx is not trivially zero: the check above has teeth.
      assert.ok(tf.max(tf.abs(ours[0]!)).dataSync()[0]! > 0.1);
    });
  });

  it('updates running statistics once per call, torch convention (momentum 0.1, unbiased variance)', () => {
    const running = { mean: tf.variable(tf.zeros([6]), false), variance: tf.variable(tf.ones([6]), false) };
    tf.tidy(() => {
      batchNormTrain(x, gamma, beta, running);
    });
    const values = x.arraySync().flat(2); // [m][c] with m = 100
    const m = values.length;
    for (let c = 0; c < 6; c++) {
      const column = values.map((row) => row[c]!);
      const mean = column.reduce((a, b) => a + b, 0) / m;
      const unbiased = column.reduce((a, b) => a + (b - mean) ** 2, 0) / (m - 1);
      assert.ok(Math.abs(running.mean.dataSync()[c]! - 0.1 * mean) < 1e-5, `mean[${c}]`);
      assert.ok(Math.abs(running.variance.dataSync()[c]! - (0.9 + 0.1 * unbiased)) < 1e-4, `var[${c}]`);
    }
    tf.dispose([running.mean, running.variance]);
  });

  it('runs no Tile, FusedBatchNorm or Transpose kernel forward or backward', async () => {
    const running = { mean: tf.variable(tf.zeros([6]), false), variance: tf.variable(tf.ones([6]), false) };
    const profile = await tf.profile(() => {
      const [dx] = tf.grads((input: tf.Tensor) => tf.sum(tf.mul(batchNormTrain(input as tf.Tensor4D, gamma, beta, running), upstream)))([
        x,
      ]);
      dx!.dispose();
    });
    assert.ok(profile.kernelNames.includes('BatchMatMul'), 'channel sums ran as matmuls');
    for (const banned of ['Tile', 'FusedBatchNorm', 'Transpose']) {
      assert.ok(!profile.kernelNames.includes(banned), `${banned} in ${profile.kernelNames.join(',')}`);
    }
    tf.dispose([running.mean, running.variance]);
  });

  it('leaks no tensor inside tf.grads with running statistics updated', () => {
    const running = { mean: tf.variable(tf.zeros([6]), false), variance: tf.variable(tf.ones([6]), false) };
    const before = tf.memory().numTensors;
    for (let i = 0; i < 2; i++) {
      const grads = tf.grads((a: tf.Tensor, g: tf.Tensor) =>
        tf.sum(tf.mul(batchNormTrain(a as tf.Tensor4D, g as tf.Tensor1D, beta, running), upstream)),
      )([x, gamma]);
      tf.dispose(grads);
    }
    assert.equal(tf.memory().numTensors, before);
    assert.notEqual(running.mean.dataSync()[0], 0);
    tf.dispose([running.mean, running.variance]);
  });
});

describe('foldBatchNorm', () => {
  it('gives the affine map of inference-mode BatchNorm', () => {
    tf.tidy(() => {
      const running = {
        mean: tf.variable(tf.tensor1d([1, -2, 0, 0.5, 3, -1]), false),
        variance: tf.variable(tf.tensor1d([4, 0.25, 1, 2, 9, 0.5]), false),
      };
      const { scale, shift } = foldBatchNorm(gamma, beta, running);
      const expected = tf.add(tf.mul(tf.div(tf.sub(x, running.mean), tf.sqrt(tf.add(running.variance, BN_EPSILON))), gamma), beta);
      assertClose(tf.add(tf.mul(x, scale), shift), expected, 1e-5, 'y');
      tf.dispose([running.mean, running.variance]);
    });
  });
});

describe('biasAdd', () => {
  it('adds per channel and has the gradients of tf.add', () => {
    tf.tidy(() => {
      assertClose(biasAdd(x, beta), tf.add(x, beta), 0, 'y');
      const f =
        (add: (a: tf.Tensor4D, b: tf.Tensor1D) => tf.Tensor) =>
        (a: tf.Tensor, b: tf.Tensor): tf.Scalar =>
          tf.sum(tf.mul(add(a as tf.Tensor4D, b as tf.Tensor1D), upstream));
      const ours = tf.grads(f(biasAdd))([x, beta]);
      const reference = tf.grads(f(tf.add))([x, beta]);
      assertClose(ours[0]!, reference[0]!, 1e-6, 'dx');
      assertClose(ours[1]!, reference[1]!, 1e-4, 'dbias');
    });
  });
});
