// Folding BatchNorm into the convolution: conv(x; folded kernel) + folded bias equals BatchNorm
// (inference, running statistics) applied to conv(x; kernel), computed with tfjs ops.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { BN_EPSILON } from '@gnet/model';
import { selectBackend } from '@gnet/training';
import { foldBatchNorm } from './fold_batch_norm.js';

/** Deterministic values in [lo, hi). */
function values(length: number, seed: number, lo: number, hi: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + ((hi - lo) * s) / 2 ** 32;
  });
}

describe('foldBatchNorm', () => {
  before(async () => {
    await selectBackend({ requested: 'cpu', log: { info: () => undefined } });
  });

  it('gives conv + bias equal to conv then inference BatchNorm', () => {
    const [k, cin, cout] = [3, 4, 5];
    const kernel = values(k * k * cin * cout, 1, -1, 1);
    const bn = {
      gamma: values(cout, 2, 0.5, 1.5),
      beta: values(cout, 3, -0.5, 0.5),
      mean: values(cout, 4, -2, 2),
      variance: values(cout, 5, 0.01, 3),
    };
    const folded = foldBatchNorm(kernel, bn);
    const [expected, actual] = tf.tidy(() => {
      const x = tf.tensor4d(values(2 * 6 * 7 * cin, 6, -1, 1), [2, 6, 7, cin]);
      const y = tf.conv2d(x, tf.tensor4d(kernel, [k, k, cin, cout]), 1, 'same');
      const bnOut = tf.batchNorm(
        y,
        tf.tensor1d(bn.mean),
        tf.tensor1d(bn.variance),
        tf.tensor1d(bn.beta),
        tf.tensor1d(bn.gamma),
        BN_EPSILON,
      );
      const foldedOut = tf.add(tf.conv2d(x, tf.tensor4d(folded.kernel, [k, k, cin, cout]), 1, 'same'), tf.tensor1d(folded.bias));
      return [bnOut.dataSync(), foldedOut.dataSync()];
    });
    let worst = 0;
    expected.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - actual[i]!))));
    assert.ok(worst < 1e-5, `max |diff| ${worst}`);
    assert.ok(Math.max(...expected.map(Math.abs)) > 1, 'outputs are not trivially small');
  });

  it('refuses statistics whose lengths disagree', () => {
    const one = Float32Array.of(1);
    assert.throws(
      () =>
        foldBatchNorm(new Float32Array(4), {
          gamma: Float32Array.of(1, 1),
          beta: one,
          mean: Float32Array.of(0, 0),
          variance: Float32Array.of(1, 1),
        }),
      {
        name: 'RangeError',
        message: '`bn.beta` passed to `foldBatchNorm` must have 2 entries like `bn.gamma`, but has 1',
      },
    );
    assert.throws(
      () =>
        foldBatchNorm(new Float32Array(3), {
          gamma: Float32Array.of(1, 1),
          beta: Float32Array.of(0, 0),
          mean: Float32Array.of(0, 0),
          variance: Float32Array.of(1, 1),
        }),
      {
        name: 'RangeError',
        message: '`kernel` passed to `foldBatchNorm` must hold a multiple of 2 values (one per output channel), but holds 3',
      },
    );
  });
});
