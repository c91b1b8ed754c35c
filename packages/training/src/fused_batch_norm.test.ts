// @gnet/model's batchNormTrain on 'onednn' runs the backend's fused kernels (GnetBatchNormTrain
// and its gradient); here it must give what the composed tfjs-op path gives on 'cpu': outputs,
// gradients of x, gamma and beta, and the running statistics, on NHWC shapes small and large
// enough for the OpenMP path. Also checks that the kernel names model asks for are the ones
// native-cpu registers (the two packages may not import each other).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { BATCH_NORM_TRAIN_GRAD_KERNEL, BATCH_NORM_TRAIN_KERNEL, batchNormTrain, hasFusedBatchNorm } from '@gnet/model';
import { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD } from '@gnet/native-cpu';
import { selectBackend } from './backend/select_backend.js';

const silent = { info: () => undefined };

function seeded(length: number, seed: number, offset = 0): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return offset + (s / 2 ** 32) * 4 - 2;
  });
}

interface Result {
  y: Float32Array;
  dx: Float32Array;
  dgamma: Float32Array;
  dbeta: Float32Array;
  runningMean: Float32Array;
  runningVariance: Float32Array;
}

function run(shape: [number, number, number, number], offset: number): Result {
  const c = shape[3];
  const size = shape.reduce((a, b) => a * b, 1);
  const running = { mean: tf.variable(tf.tensor1d(seeded(c, 7)), false), variance: tf.variable(tf.ones([c]), false) };
  const out = tf.tidy(() => {
    const x = tf.tensor4d(seeded(size, 1, offset), shape);
    const gamma = tf.tensor1d(seeded(c, 2));
    const beta = tf.tensor1d(seeded(c, 3));
    const r = tf.tensor4d(seeded(size, 4), shape); // dy
    const y = batchNormTrain(x, gamma, beta, running);
    const [dx, dgamma, dbeta] = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(batchNormTrain(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D), r)),
    )([x, gamma, beta]);
    return {
      y: y.dataSync() as Float32Array,
      dx: dx!.dataSync() as Float32Array,
      dgamma: dgamma!.dataSync() as Float32Array,
      dbeta: dbeta!.dataSync() as Float32Array,
    };
  });
  const result = {
    ...out,
    runningMean: running.mean.dataSync() as Float32Array,
    runningVariance: running.variance.dataSync() as Float32Array,
  };
  running.mean.dispose();
  running.variance.dispose();
  return result;
}

function assertClose(got: Float32Array, want: Float32Array, what: string, rel: number): void {
  assert.equal(got.length, want.length, what);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]!));
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  }
  // Plus 1e-6 absolute: with m = 2 rows, dx cancels to float32 noise on both paths.
  assert.ok(worst <= rel * scale + 1e-6, `${what}: max |diff| ${worst} > ${rel} * ${scale} + 1e-6`);
}

describe('batchNormTrain on onednn (fused kernels) matches the composed path on cpu', () => {
  before(async () => {
    await selectBackend({ requested: 'onednn', log: silent });
  });

  it('uses the kernel names native-cpu registers', () => {
    assert.equal(BATCH_NORM_TRAIN_KERNEL, BATCH_NORM_TRAIN);
    assert.equal(BATCH_NORM_TRAIN_GRAD_KERNEL, BATCH_NORM_TRAIN_GRAD);
    assert.equal(hasFusedBatchNorm(), true);
  });

  const cases: [[number, number, number, number], number][] = [
    [[2, 3, 3, 5], 0],
    [[1, 1, 2, 3], 0],
    [[8, 16, 16, 24], 0], // 49,152 elements: the OpenMP path
    [[4, 8, 8, 16], 50], // a mean far from zero: the two-pass variance
  ];
  for (const [shape, offset] of cases) {
    it(`[${shape.join(', ')}]${offset === 0 ? '' : ` around ${offset}`}`, async () => {
      await tf.setBackend('cpu');
      assert.equal(hasFusedBatchNorm(), false);
      const want = run(shape, offset);
      await tf.setBackend('onednn');
      let fused = 0;
      const profile = await tf.profile(() => void run(shape, offset));
      fused = profile.kernels.filter((k) => k.name === BATCH_NORM_TRAIN || k.name === BATCH_NORM_TRAIN_GRAD).length;
      assert.ok(fused >= 3, `fused kernels ran ${fused} times`);
      const got = run(shape, offset);
      assertClose(got.y, want.y, 'y', 1e-5);
      assertClose(got.dx, want.dx, 'dx', 1e-4);
      assertClose(got.dgamma, want.dgamma, 'dgamma', 1e-4);
      assertClose(got.dbeta, want.dbeta, 'dbeta', 1e-5);
      assertClose(got.runningMean, want.runningMean, 'running mean', 1e-5);
      assertClose(got.runningVariance, want.runningVariance, 'running variance', 1e-4);
    });
  }
});
