// Our conv gradient kernels (dx as a forward conv, dW as transposes + a forward conv or a matMul)
// against tfjs-backend-cpu's stock kernels, on wasm and on cpu: 1x1/3x3/5x5, stride 1 and 2,
// 'same' and 'valid', odd and even sizes, and through tf.grads and tf.fused.conv2d.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerTrainingKernels, unregisterTrainingKernels } from './training_kernels.js';

/** Deterministic N(0,1)-ish values (sum of uniforms from an LCG), the same on every backend. */
function seeded(length: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const next = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  return Float32Array.from({ length }, () => next() + next() + next() - 1.5);
}

/** fp32 tolerance relative to the reference's largest magnitude. */
function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  assert.ok(worst <= 1e-5 * scale + 1e-6, `${what}: max |diff| ${worst} exceeds 1e-5 * ${scale}`);
}

interface ConvCase {
  n: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  k: number;
  stride: number;
  pad: 'same' | 'valid';
}

const CASES: ConvCase[] = [];
for (const k of [1, 3, 5]) {
  for (const stride of [1, 2]) {
    for (const pad of ['same', 'valid'] as const) {
      for (const [h, w] of [
        [7, 9],
        [8, 6],
      ] as const)
        CASES.push({ n: 2, h, w, cin: 3, cout: 5, k, stride, pad });
    }
  }
}

/** dx and dW of sum(conv2d(x, W) * r) for fixed x, W, r: dy = r. */
function convGrads(c: ConvCase, fused: boolean): [Float32Array, Float32Array] {
  return tf.tidy(() => {
    const x = tf.tensor4d(seeded(c.n * c.h * c.w * c.cin, 1), [c.n, c.h, c.w, c.cin]);
    const filter = tf.tensor4d(seeded(c.k * c.k * c.cin * c.cout, 2), [c.k, c.k, c.cin, c.cout]);
    const f = (a: tf.Tensor, b: tf.Tensor): tf.Tensor => {
      const y = fused
        ? tf.fused.conv2d({
            x: a as tf.Tensor4D,
            filter: b as tf.Tensor4D,
            strides: c.stride,
            pad: c.pad,
            bias: tf.fill([c.cout], 0.5) as tf.Tensor1D,
          })
        : tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad);
      return tf.sum(tf.mul(y, tf.tensor(seeded(y.size, 3), y.shape)));
    };
    const [dx, dw] = tf.grads(f)([x, filter]) as [tf.Tensor, tf.Tensor];
    return [dx.dataSync() as Float32Array, dw.dataSync() as Float32Array];
  });
}

const label = (c: ConvCase): string => `${c.k}x${c.k} stride ${c.stride} ${c.pad} ${c.h}x${c.w}`;

describe('conv2d gradient kernels', () => {
  const reference = new Map<string, [Float32Array, Float32Array]>();

  before(async () => {
    await tf.setBackend('wasm');
    await tf.setBackend('cpu');
    unregisterTrainingKernels('cpu');
    for (const c of CASES) reference.set(label(c), convGrads(c, false));
  });

  for (const backend of ['wasm', 'cpu'] as const) {
    it(`${backend}: dx and dW match cpu's stock kernels`, async () => {
      // cpu keeps its stock dx by default; force ours so that path is checked on cpu too.
      unregisterTrainingKernels(backend);
      registerTrainingKernels(backend, { dx: 'all' });
      await tf.setBackend(backend);
      for (const c of CASES) {
        const [dx, dw] = convGrads(c, false);
        const [rdx, rdw] = reference.get(label(c))!;
        assertClose(dx, rdx, `${backend} dx ${label(c)}`);
        assertClose(dw, rdw, `${backend} dW ${label(c)}`);
      }
    });
  }

  it('wasm: tf.fused.conv2d gradients reach our kernels (wasm has no stock dW)', async () => {
    registerTrainingKernels('wasm');
    await tf.setBackend('wasm');
    for (const c of CASES.filter((k) => k.k === 3)) {
      const [dx, dw] = convGrads(c, true);
      const [rdx, rdw] = reference.get(label(c))!;
      assertClose(dx, rdx, `fused dx ${label(c)}`);
      assertClose(dw, rdw, `fused dW ${label(c)}`);
    }
  });

  it('wasm: the 1x1 dW takes either formulation to the same result', async () => {
    await tf.setBackend('wasm');
    const c: ConvCase = { n: 2, h: 5, w: 7, cin: 6, cout: 4, k: 1, stride: 1, pad: 'valid' };
    unregisterTrainingKernels('wasm');
    registerTrainingKernels('wasm', { dwPointwise: 'conv' });
    const [, viaConv] = convGrads(c, false);
    unregisterTrainingKernels('wasm');
    registerTrainingKernels('wasm', { dwPointwise: 'matMul' });
    const [, viaMatMul] = convGrads(c, false);
    assertClose(viaConv, viaMatMul, '1x1 dW conv vs matMul');
  });

  it('cpu: NCHW dW matches the stock kernel', async () => {
    await tf.setBackend('cpu');
    const x = tf.tensor4d(seeded(2 * 3 * 7 * 6, 4), [2, 3, 7, 6]);
    const dy = tf.tensor4d(seeded(2 * 4 * 4 * 3, 5), [2, 4, 4, 3]);
    const attrs = { strides: 2, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 3, 4] } as const;
    const run = (): Float32Array =>
      (
        tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: [...attrs.filterShape] }) as tf.Tensor
      ).dataSync() as Float32Array;
    unregisterTrainingKernels('cpu');
    const stock = run();
    registerTrainingKernels('cpu');
    assertClose(run(), stock, 'NCHW dW');
    tf.dispose([x, dy]);
  });

  it('wasm: a gradient step frees every intermediate it allocates', async () => {
    registerTrainingKernels('wasm');
    await tf.setBackend('wasm');
    convGrads(CASES[9]!, false); // warm-up: first-use allocations are not leaks
    const backend = tf.backend();
    const before = backend.numDataIds();
    const tensors = tf.memory().numTensors;
    for (const c of CASES) convGrads(c, false);
    assert.equal(backend.numDataIds(), before);
    assert.equal(tf.memory().numTensors, tensors);
  });
});
