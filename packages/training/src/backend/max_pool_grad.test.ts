// Guards wasm's MaxPoolGrad bug (windows whose maximum is <= 0 send their gradient to the wrong
// place) and checks our replacement against tfjs-backend-cpu for GoogLeNet's pools (3x3 stride 1
// 'same', 3x3 stride 2) and AvgPool's gradient (stock on both backends).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerTrainingKernels, unregisterTrainingKernels } from './training_kernels.js';

function seeded(length: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const next = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  return Float32Array.from({ length }, () => next() + next() + next() - 1.5);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

type Pool = 'max' | 'avg';

/** d/dx of sum(pool(x) * r) on the active backend. */
function poolGrad(
  pool: Pool,
  x: Float32Array,
  shape: [number, number, number, number],
  k: number,
  stride: number,
  pad: 'same' | 'valid',
): Float32Array {
  return tf.tidy(() => {
    const f = (t: tf.Tensor): tf.Tensor => {
      const y = pool === 'max' ? tf.maxPool(t as tf.Tensor4D, k, stride, pad) : tf.avgPool(t as tf.Tensor4D, k, stride, pad);
      return tf.sum(tf.mul(y, tf.tensor(seeded(y.size, 7), y.shape)));
    };
    return tf.grad(f)(tf.tensor4d(x, shape)).dataSync() as Float32Array;
  });
}

async function on(backend: 'cpu' | 'wasm', run: () => Float32Array): Promise<Float32Array> {
  await tf.setBackend(backend);
  return run();
}

const SHAPE: [number, number, number, number] = [2, 7, 9, 5];
/** Every value negative: every window's maximum is < 0. */
const NEGATIVE = seeded(2 * 7 * 9 * 5, 11).map((v) => -Math.abs(v) - 0.1);
/** ReLU-like: about half zeros, so many windows tie at 0 (cpu gives the first position). */
const RELU = seeded(2 * 7 * 9 * 5, 12).map((v) => Math.max(0, v));
const MIXED = seeded(2 * 7 * 9 * 5, 13);

const POOLS = [
  { k: 3, stride: 1, pad: 'same' },
  { k: 3, stride: 2, pad: 'same' },
  { k: 3, stride: 2, pad: 'valid' },
  { k: 2, stride: 2, pad: 'valid' },
] as const;

describe('MaxPoolGrad', () => {
  before(async () => {
    await tf.setBackend('wasm');
    await tf.setBackend('cpu');
  });

  it("wasm's stock kernel is still wrong for windows whose maximum is negative (why we replace it)", async () => {
    unregisterTrainingKernels('wasm');
    const expected = await on('cpu', () => poolGrad('max', NEGATIVE, SHAPE, 3, 1, 'same'));
    const stock = await on('wasm', () => poolGrad('max', NEGATIVE, SHAPE, 3, 1, 'same'));
    // When a tfjs upgrade fixes MaxPoolGrad.cc this fails: then the override may be dropped.
    assert.ok(maxAbsDiff(stock, expected) > 0.1, 'stock wasm MaxPoolGrad now matches cpu on negative windows');
  });

  for (const [name, x] of [
    ['negative', NEGATIVE],
    ['relu (ties at 0)', RELU],
    ['mixed-sign', MIXED],
  ] as const) {
    for (const p of POOLS) {
      it(`wasm with our kernel matches cpu: ${name} input, ${p.k}x${p.k} stride ${p.stride} ${p.pad}`, async () => {
        registerTrainingKernels('wasm');
        const expected = await on('cpu', () => poolGrad('max', x, SHAPE, p.k, p.stride, p.pad));
        const ours = await on('wasm', () => poolGrad('max', x, SHAPE, p.k, p.stride, p.pad));
        // Each dx element sums at most a few dy values: exact up to float32 rounding of that sum.
        assert.ok(maxAbsDiff(ours, expected) < 1e-5, `max |diff| ${maxAbsDiff(ours, expected)}`);
      });
    }
  }

  it('cpu with our kernel matches its stock kernel', async () => {
    unregisterTrainingKernels('cpu');
    const stock = await on('cpu', () => poolGrad('max', MIXED, SHAPE, 3, 2, 'same'));
    registerTrainingKernels('cpu');
    const ours = await on('cpu', () => poolGrad('max', MIXED, SHAPE, 3, 2, 'same'));
    assert.ok(maxAbsDiff(ours, stock) < 1e-5);
  });

  it('NaN windows pass no gradient and -Infinity loses to any number, as on cpu', async () => {
    registerTrainingKernels('wasm');
    const x = Float32Array.from(MIXED);
    x[0] = Number.NaN;
    x[5] = Number.NEGATIVE_INFINITY;
    const expected = await on('cpu', () => poolGrad('max', x, SHAPE, 3, 1, 'same'));
    const ours = await on('wasm', () => poolGrad('max', x, SHAPE, 3, 1, 'same'));
    assert.ok(maxAbsDiff(ours, expected) < 1e-5);
  });
});

describe('AvgPoolGrad (stock on both backends)', () => {
  for (const p of [...POOLS, { k: 8, stride: 1, pad: 'valid' } as const]) {
    it(`wasm matches cpu: ${p.k}x${p.k} stride ${p.stride} ${p.pad}`, async () => {
      const shape: [number, number, number, number] = p.k === 8 ? [2, 8, 8, 5] : SHAPE;
      const x = seeded(
        shape.reduce((a, b) => a * b),
        14,
      );
      const expected = await on('cpu', () => poolGrad('avg', x, shape, p.k, p.stride, p.pad));
      const got = await on('wasm', () => poolGrad('avg', x, shape, p.k, p.stride, p.pad));
      assert.ok(maxAbsDiff(got, expected) < 1e-5, `max |diff| ${maxAbsDiff(got, expected)}`);
    });
  }
});
