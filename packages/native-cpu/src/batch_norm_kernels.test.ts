// The 'onednn' backend's training-mode BatchNorm kernels (GnetBatchNormTrain and
// GnetBatchNormTrainGrad, run through tf.engine().runKernel) against a float64 reference of
// batch_norm_kernels.ts's formulas: y, the batch mean, the biased variance and invStd forward; dx,
// dgamma and dbeta backward. Shapes [2, 3, 3, 5], [4, 16, 16, 64] (above 2^15 elements: the OpenMP
// loops and per-thread partial sums), [1, 1, 1, 3] (one row: variance 0), [6, 10] (2-D) and
// [7, 1] (one channel); inputs with a large mean (1000 + N(0, 1)), where a one-pass variance in
// float32 would cancel; the input errors (code 'BATCH_NORM_KERNEL_INPUT', naming the input); and
// determinism: the same call twice is bit-identical.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { BATCH_NORM_TRAIN, BATCH_NORM_TRAIN_GRAD, BatchNormKernelInputError } from './batch_norm_kernels.js';
import { ONEDNN_BACKEND, registerOneDnnBackend } from './onednn_backend.js';
import { assertClose, seeded } from './testing/numeric.js';
import { requireAddon } from './testing/require_addon.js';

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

interface Inputs {
  shape: number[];
  x: Float32Array;
  gamma: Float32Array;
  beta: Float32Array;
  dy: Float32Array;
}

/**
 * x with a different scale and offset per channel (or 1000 + N(0, 1) everywhere when `largeMean`),
 * gamma around 1 (some negative), beta and dy seeded normals.
 */
function inputs(shape: number[], largeMean = false): Inputs {
  const c = shape.at(-1)!;
  const x = seeded(sizeOf(shape), 1);
  for (let i = 0; i < x.length; i++) {
    const j = i % c;
    x[i] = largeMean ? 1000 + x[i]! * Math.SQRT2 : x[i]! * (0.5 + j / c) + (j % 3) - 1;
  }
  const gamma = seeded(c, 2).map((v) => v + 1);
  return { shape, x, gamma, beta: seeded(c, 3), dy: seeded(x.length, 4) };
}

interface Forward {
  y: Float64Array;
  mean: Float64Array;
  variance: Float64Array;
  invStd: Float64Array;
}

/** batch_norm_kernels.ts's forward in float64, from the float32 inputs. */
function forwardReference(inp: Inputs, epsilon: number): Forward {
  const c = inp.gamma.length;
  const rows = inp.x.length / c;
  const mean = new Float64Array(c);
  const variance = new Float64Array(c);
  for (let i = 0; i < inp.x.length; i++) mean[i % c]! += inp.x[i]!;
  for (let j = 0; j < c; j++) mean[j]! /= rows;
  for (let i = 0; i < inp.x.length; i++) variance[i % c]! += (inp.x[i]! - mean[i % c]!) ** 2;
  for (let j = 0; j < c; j++) variance[j]! /= rows;
  const invStd = variance.map((v) => 1 / Math.sqrt(v + epsilon));
  const y = Float64Array.from(inp.x, (v, i) => (v - mean[i % c]!) * inp.gamma[i % c]! * invStd[i % c]! + inp.beta[i % c]!);
  return { y, mean, variance, invStd };
}

interface Backward {
  dx: Float64Array;
  dgamma: Float64Array;
  dbeta: Float64Array;
}

/** batch_norm_kernels.ts's backward in float64, from the float32 inputs the kernel gets (mean and invStd included). */
function backwardReference(inp: Inputs, mean: Float32Array, invStd: Float32Array): Backward {
  const c = inp.gamma.length;
  const m = inp.x.length / c;
  const dbeta = new Float64Array(c);
  const dgamma = new Float64Array(c);
  for (let i = 0; i < inp.x.length; i++) {
    dbeta[i % c]! += inp.dy[i]!;
    dgamma[i % c]! += inp.dy[i]! * (inp.x[i]! - mean[i % c]!);
  }
  for (let j = 0; j < c; j++) dgamma[j]! *= invStd[j]!;
  const dx = Float64Array.from(inp.x, (v, i) => {
    const j = i % c;
    const xhat = (v - mean[j]!) * invStd[j]!;
    return inp.gamma[j]! * invStd[j]! * (inp.dy[i]! - dbeta[j]! / m - (xhat * dgamma[j]!) / m);
  });
  return { dx, dgamma, dbeta };
}

interface Outputs {
  y: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  invStd: Float32Array;
  dx: Float32Array;
  dgamma: Float32Array;
  dbeta: Float32Array;
}

/**
 * Both kernels on the current backend; the backward gets `backwardMean`/`backwardInvStd` (float32)
 * when given, else the forward's outputs. Checks every output's shape.
 */
function runKernels(inp: Inputs, epsilon: number, backwardMean?: Float32Array, backwardInvStd?: Float32Array): Outputs {
  return tf.tidy(() => {
    const c = inp.gamma.length;
    const x = tf.tensor(inp.x, inp.shape);
    const gamma = tf.tensor1d(inp.gamma);
    const fwd = tf.engine().runKernel(BATCH_NORM_TRAIN, { x, gamma, beta: tf.tensor1d(inp.beta) }, { epsilon }) as tf.Tensor[];
    assert.equal(fwd.length, 4);
    assert.deepEqual(fwd[0]!.shape, inp.shape, 'y shape');
    for (const t of fwd.slice(1)) assert.deepEqual(t.shape, [c], 'statistics shape');
    const [y, mean, variance, invStd] = fwd.map((t) => t.dataSync() as Float32Array) as [
      Float32Array,
      Float32Array,
      Float32Array,
      Float32Array,
    ];
    const bwd = tf.engine().runKernel(BATCH_NORM_TRAIN_GRAD, {
      dy: tf.tensor(inp.dy, inp.shape),
      x,
      mean: tf.tensor1d(backwardMean ?? mean),
      invStd: tf.tensor1d(backwardInvStd ?? invStd),
      gamma,
    }) as tf.Tensor[];
    assert.equal(bwd.length, 3);
    assert.deepEqual(bwd[0]!.shape, inp.shape, 'dx shape');
    assert.deepEqual(bwd[1]!.shape, [c], 'dgamma shape');
    assert.deepEqual(bwd[2]!.shape, [c], 'dbeta shape');
    const [dx, dgamma, dbeta] = bwd.map((t) => t.dataSync() as Float32Array) as [Float32Array, Float32Array, Float32Array];
    return { y, mean, variance, invStd, dx, dgamma, dbeta };
  });
}

/** Asserts `max |actual - expected| <= tolerance`. */
function assertWithin(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  assert.ok(worst <= tolerance, `${what}: max |diff| ${worst} exceeds ${tolerance}`);
}

/** Asserts each |actual[j] - expected[j]| <= rel * |expected[j]| (per channel). */
function assertEachRelative(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let j = 0; j < expected.length; j++) {
    const err = Math.abs(actual[j]! - expected[j]!);
    assert.ok(
      err <= rel * Math.abs(expected[j]!),
      `${what}[${j}]: ${actual[j]} vs ${expected[j]} (relative error ${err / Math.abs(expected[j]!)} > ${rel})`,
    );
  }
}

const SHAPES: number[][] = [
  [2, 3, 3, 5],
  [4, 16, 16, 64], // 65,536 elements: above 2^15
  [6, 10],
  [7, 1],
];

const bits = (outputs: Outputs): Uint8Array[] =>
  Object.values(outputs).map((v: Float32Array) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength));

// Not skipped without the addon: requireAddon fails loudly.
describe('BatchNorm training kernels', () => {
  before(() => requireAddon());
  before(async () => {
    assert.equal(registerOneDnnBackend().registered, true);
    await tf.setBackend(ONEDNN_BACKEND);
  });

  for (const shape of SHAPES) {
    for (const epsilon of [1e-3, 1e-5]) {
      it(`forward and backward match the float64 reference for [${shape}], epsilon ${epsilon}`, () => {
        const inp = inputs(shape);
        const ref = forwardReference(inp, epsilon);
        const mean32 = Float32Array.from(ref.mean);
        const invStd32 = Float32Array.from(ref.invStd);
        const got = runKernels(inp, epsilon, mean32, invStd32);
        assertClose(got.mean, ref.mean, `mean [${shape}]`, 1e-6);
        assertEachRelative(got.variance, ref.variance, 1e-5, `variance [${shape}]`);
        assertEachRelative(got.invStd, ref.invStd, 1e-5, `invStd [${shape}]`);
        assertClose(got.y, ref.y, `y [${shape}]`, 1e-5);
        const bref = backwardReference(inp, mean32, invStd32);
        assertClose(got.dbeta, bref.dbeta, `dbeta [${shape}]`, 1e-5);
        assertClose(got.dgamma, bref.dgamma, `dgamma [${shape}]`, 1e-5);
        assertClose(got.dx, bref.dx, `dx [${shape}]`, 1e-5);
      });
    }
  }

  it('one row ([1, 1, 1, 3]): variance 0, invStd 1/sqrt(epsilon), y = beta, dx ~ 0, dgamma 0, dbeta = dy', () => {
    const epsilon = 1e-3;
    const inp = inputs([1, 1, 1, 3]);
    const got = runKernels(inp, epsilon);
    assert.deepEqual(Array.from(got.mean), Array.from(inp.x));
    assert.deepEqual(Array.from(got.variance), [0, 0, 0]);
    assertClose(
      got.invStd,
      [1, 1, 1].map(() => 1 / Math.sqrt(epsilon)),
      'invStd',
      1e-6,
    );
    assertClose(got.y, inp.beta, 'y', 1e-6);
    const bref = backwardReference(inp, got.mean, got.invStd);
    assertClose(got.dbeta, bref.dbeta, 'dbeta', 1e-6);
    assert.deepEqual(Array.from(got.dgamma), [0, 0, 0]);
    // dx is 0 in exact arithmetic (dy - mean(dy) over one row); allow float32 rounding of its terms.
    const scale = Math.max(...Array.from(inp.dy, (d, j) => Math.abs(d * inp.gamma[j]! * got.invStd[j]!)));
    assertWithin(got.dx, bref.dx, 1e-6 * scale, 'dx');
  });

  it('a large mean (1000 + N(0, 1)) keeps the variance accurate (two passes), on the OpenMP path too', () => {
    for (const shape of [
      [2, 3, 3, 5],
      [4, 16, 16, 64],
    ]) {
      const epsilon = 1e-3;
      const inp = inputs(shape, true);
      const ref = forwardReference(inp, epsilon);
      const mean32 = Float32Array.from(ref.mean);
      const invStd32 = Float32Array.from(ref.invStd);
      const got = runKernels(inp, epsilon, mean32, invStd32);
      assertEachRelative(got.mean, ref.mean, 1e-6, `mean [${shape}]`);
      assertEachRelative(got.variance, ref.variance, 1e-3, `variance [${shape}]`);
      assertEachRelative(got.invStd, ref.invStd, 1e-3, `invStd [${shape}]`);
      // The mean's float32 rounding (~3e-5 at 1000) shifts every y by up to that times gamma * invStd.
      assertClose(got.y, ref.y, `y [${shape}]`, 1e-4);
      const bref = backwardReference(inp, mean32, invStd32);
      assertClose(got.dbeta, bref.dbeta, `dbeta [${shape}]`, 1e-5);
      assertClose(got.dgamma, bref.dgamma, `dgamma [${shape}]`, 1e-4);
      assertClose(got.dx, bref.dx, `dx [${shape}]`, 1e-4);
    }
  });

  it('the same call twice gives bit-identical outputs', () => {
    for (const shape of SHAPES) {
      const inp = inputs(shape);
      const first = bits(runKernels(inp, 1e-3));
      const second = bits(runKernels(inp, 1e-3));
      first.forEach((b, i) => assert.equal(Buffer.compare(b, second[i]!), 0, `[${shape}] output ${i} differs between runs`));
    }
  });

  describe('input errors', () => {
    const isInputError = (name: RegExp) => (err: unknown) => {
      assert.ok(err instanceof BatchNormKernelInputError, `a BatchNormKernelInputError, got ${String(err)}`);
      assert.equal(err.code, 'BATCH_NORM_KERNEL_INPUT');
      assert.match(err.message, name);
      return true;
    };
    const x = (): tf.Tensor => tf.tensor(seeded(2 * 3 * 3 * 5, 9), [2, 3, 3, 5]);
    const forward = (inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>) => () =>
      tf.tidy(() => {
        tf.engine().runKernel(BATCH_NORM_TRAIN, inputs, attrs as tf.NamedAttrMap);
      });
    const backward = (inputs: Record<string, tf.Tensor>) => () =>
      tf.tidy(() => {
        tf.engine().runKernel(BATCH_NORM_TRAIN_GRAD, inputs);
      });

    it('a gamma of the wrong shape names `gamma`', () => {
      tf.tidy(() => {
        assert.throws(
          forward({ x: x(), gamma: tf.ones([6]), beta: tf.zeros([5]) }, { epsilon: 1e-3 }),
          isInputError(/`gamma`.*\[5\].*\[6\]/),
        );
        assert.throws(forward({ x: x(), gamma: tf.ones([1, 5]), beta: tf.zeros([5]) }, { epsilon: 1e-3 }), isInputError(/`gamma`/));
      });
    });

    it('a missing, zero or negative epsilon is an error naming `epsilon`', () => {
      tf.tidy(() => {
        const inputs = { x: x(), gamma: tf.ones([5]), beta: tf.zeros([5]) };
        for (const attrs of [{}, { epsilon: 0 }, { epsilon: -1e-3 }, { epsilon: NaN }]) {
          assert.throws(forward(inputs, attrs), isInputError(/`epsilon`/), JSON.stringify(attrs));
        }
      });
    });

    it('other bad inputs name the input: beta, x of rank 1, int32 x, dy of the wrong shape', () => {
      tf.tidy(() => {
        const ok = { gamma: tf.ones([5]), beta: tf.zeros([5]) };
        assert.throws(forward({ x: x(), gamma: ok.gamma, beta: tf.zeros([4]) }, { epsilon: 1e-3 }), isInputError(/`beta`/));
        assert.throws(forward({ x: tf.ones([5]), ...ok }, { epsilon: 1e-3 }), isInputError(/`x`/));
        assert.throws(forward({ x: tf.ones([2, 5], 'int32'), ...ok }, { epsilon: 1e-3 }), isInputError(/`x`.*float32/));
        const stats = { mean: tf.zeros([5]), invStd: tf.ones([5]), gamma: ok.gamma };
        assert.throws(backward({ dy: tf.ones([2, 3, 3, 4]), x: x(), ...stats }), isInputError(/`dy`/));
        assert.throws(backward({ dy: x(), x: x(), ...stats, invStd: tf.ones([4]) }), isInputError(/`invStd`/));
      });
    });

    it('an x with no rows is an error', () => {
      // (Today the addon's ONEDNN_BAD_ARGUMENT about `channels`, not a BatchNormKernelInputError.)
      tf.tidy(() => {
        assert.throws(forward({ x: tf.zeros([0, 5]), gamma: tf.ones([5]), beta: tf.zeros([5]) }, { epsilon: 1e-3 }));
      });
    });
  });
});
