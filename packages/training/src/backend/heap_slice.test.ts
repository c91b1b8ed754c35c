// Our wasm Slice/SplitV (heap-to-heap copies) against tfjs-backend-cpu, over ranks 1-5, partial
// and whole axes, int32 and bool, and the channel split that a concat's gradient does.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { copyBox } from './heap_slice.js';
import { registerTrainingKernels } from './training_kernels.js';

async function on<T>(backend: 'cpu' | 'wasm', run: () => T): Promise<T> {
  await tf.setBackend(backend);
  tf.engine().startScope();
  try {
    return run();
  } finally {
    tf.engine().endScope();
  }
}

const iota = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

const CASES: { shape: number[]; begin: number[]; size: number[] }[] = [
  { shape: [10], begin: [3], size: [5] },
  { shape: [4, 6], begin: [1, 2], size: [2, -1] },
  { shape: [3, 4, 5], begin: [0, 1, 0], size: [3, 2, 5] },
  { shape: [2, 7, 9, 40], begin: [1, 2, 3, 5], size: [1, 4, 5, 33] },
  { shape: [2, 7, 9, 40], begin: [0, 0, 0, 8], size: [2, 7, 9, 16] },
  { shape: [2, 7, 9, 40], begin: [1, 0, 0, 0], size: [1, 7, 9, 40] },
  { shape: [2, 3, 4, 5, 6], begin: [1, 1, 1, 1, 1], size: [1, 2, 3, 4, 5] },
  { shape: [2, 3], begin: [0, 0], size: [0, 3] },
];

describe('heap Slice and SplitV on wasm', () => {
  before(async () => {
    await tf.setBackend('cpu');
    await tf.setBackend('wasm');
    registerTrainingKernels('wasm');
  });

  for (const c of CASES) {
    it(`slice ${JSON.stringify(c)} matches cpu, float32 and int32`, async () => {
      for (const dtype of ['float32', 'int32'] as const) {
        const n = c.shape.reduce((a, b) => a * b, 1);
        const run = (): number[] => Array.from(tf.slice(tf.tensor(iota(n), c.shape, dtype), c.begin, c.size).dataSync());
        assert.deepEqual(await on('wasm', run), await on('cpu', run));
      }
    });
  }

  it('slices bool tensors', async () => {
    const run = (): number[] =>
      Array.from(tf.slice(tf.tensor([true, false, true, true, false, false], [2, 3], 'bool'), [0, 1], [2, 2]).dataSync());
    assert.deepEqual(await on('wasm', run), [0, 1, 0, 0]);
    assert.deepEqual(await on('cpu', run), [0, 1, 0, 0]);
  });

  it('splits along channels and along the batch like cpu', async () => {
    const run = (): number[][] => {
      const x = tf.tensor4d(iota(2 * 3 * 5 * 12), [2, 3, 5, 12]);
      return [...tf.split(x, [4, 1, 7], 3), ...tf.split(x, 2, 0)].map((t) => Array.from(t.dataSync()));
    };
    assert.deepEqual(await on('wasm', run), await on('cpu', run));
  });

  it("gives a channel concat's gradient (SplitV) like cpu", async () => {
    const run = (): number[][] => {
      const a = tf.tensor4d(iota(2 * 3 * 3 * 4), [2, 3, 3, 4]);
      const b = tf.tensor4d(iota(2 * 3 * 3 * 6), [2, 3, 3, 6]);
      const f = (p: tf.Tensor, q: tf.Tensor): tf.Tensor =>
        tf.sum(tf.mul(tf.concat([p, q], 3), tf.reshape(tf.range(0, 2 * 3 * 3 * 10), [2, 3, 3, 10])));
      return tf
        .grads(f)([a, b])
        .map((t) => Array.from(t.dataSync()));
    };
    assert.deepEqual(await on('wasm', run), await on('cpu', run));
  });

  it('copyBox merges whole inner axes into one run', () => {
    const src = Float32Array.from(iota(24));
    const dst = new Float32Array(8);
    copyBox(src, [2, 3, 4], [1, 1, 0], [1, 2, 4], dst);
    assert.deepEqual(Array.from(dst), [16, 17, 18, 19, 20, 21, 22, 23]);
  });
});
