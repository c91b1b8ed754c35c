// The 'onednn' backend as a whole: what registering it does, that it is the cpu backend's storage
// (typed arrays, no wasm heap), and that training steps on it leave no tensor behind.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { loadNativeAddon } from './native_addon.js';
import { ONEDNN_BACKEND, OneDnnBackend, registerOneDnnBackend } from './onednn_backend.js';
import { seeded } from './testing/numeric.js';
import { requireAddon } from './testing/require_addon.js';

const { addon } = loadNativeAddon();

// Not skipped without the addon: requireAddon fails loudly.
describe("the 'onednn' backend", () => {
  before(() => requireAddon());
  before(async () => {
    assert.equal(registerOneDnnBackend().registered, true);
    assert.equal(await tf.setBackend(ONEDNN_BACKEND), true);
  });

  it('registers once, with every cpu kernel and the native ones', () => {
    const r = registerOneDnnBackend();
    assert.equal(registerOneDnnBackend(), r);
    assert.ok(r.registered);
    assert.deepEqual(r.nativeKernels, [
      'Conv2D',
      'FusedConv2D',
      'Conv2DBackpropInput',
      'Conv2DBackpropFilter',
      'MaxPool',
      'MaxPoolGrad',
      'AvgPool',
      'AvgPoolGrad',
      'Add',
      'Sub',
      'Multiply',
      'RealDiv',
      'Relu',
      'Step',
      'Concat',
      'SplitV',
      'GnetBatchNormTrain',
      'GnetBatchNormTrainGrad',
      'BatchMatMul',
    ]);
    const ours = new Set(tf.getKernelsForBackend(ONEDNN_BACKEND).map((k) => k.kernelName));
    const missing = tf.getKernelsForBackend('cpu').filter((k) => !ours.has(k.kernelName));
    assert.deepEqual(missing, []);
  });

  it("keeps tensors in the cpu backend's typed arrays, not a wasm heap", () => {
    const backend = tf.backend();
    assert.ok(backend instanceof OneDnnBackend && backend instanceof MathBackendCPU);
    const y = tf.conv2d(tf.ones([1, 4, 4, 2]) as tf.Tensor4D, tf.ones([3, 3, 2, 3]) as tf.Tensor4D, 1, 'same');
    const values = backend.readSync(y.dataId);
    assert.ok(values instanceof Float32Array);
    assert.ok(!(values.buffer instanceof SharedArrayBuffer));
    assert.equal(values.length, y.size); // its own buffer, not a view into one big heap
    assert.equal(values.buffer.byteLength, y.size * 4);
    y.dispose();
  });

  it('frees every tensor over 50 forward + backward steps', () => {
    // A small conv net through every native kernel: stride 1 and 2, plain and fused.
    const w1 = tf.variable(tf.tensor4d(seeded(3 * 3 * 3 * 8, 1), [3, 3, 3, 8]));
    const w2 = tf.variable(tf.tensor4d(seeded(3 * 3 * 8 * 16, 2), [3, 3, 8, 16]));
    const b2 = tf.variable(tf.zeros([16]));
    const x = tf.tensor4d(seeded(4 * 16 * 16 * 3, 3), [4, 16, 16, 3]);
    const loss = (): tf.Scalar => {
      const h = tf.relu(tf.conv2d(x, w1 as tf.Tensor4D, 1, 'same'));
      const y = tf.fused.conv2d({ x: h, filter: w2 as tf.Tensor4D, strides: 2, pad: 'same', bias: b2, activation: 'relu' });
      return tf.mean(tf.square(y));
    };
    const step = (): number => {
      const { value, grads } = tf.variableGrads(loss);
      // Inside tidy: assign() shares the new value's data, and tidy frees the new value's handle.
      tf.tidy(() => {
        for (const v of [w1, w2, b2]) v.assign(tf.sub(v, tf.mul(grads[v.name]!, 0.01)));
      });
      const l = value.dataSync()[0]!;
      tf.dispose([value, ...Object.values(grads)]);
      return l;
    };
    const backend = tf.backend();
    const first = step(); // first-use allocations are not leaks
    const tensors = tf.memory().numTensors;
    const dataIds = backend.numDataIds();
    const calls = addon!.cacheStats().hits;
    let last = first;
    for (let i = 1; i < 50; i++) {
      last = step();
      assert.equal(tf.memory().numTensors, tensors, `step ${i}: tensors`);
    }
    assert.equal(backend.numDataIds(), dataIds);
    // 2 forwards, conv1's dW, conv2's dx and dW per step, every one a cached native primitive.
    assert.equal(addon!.cacheStats().hits - calls, 49 * 5);
    assert.ok(last < first, `loss went from ${first} to ${last}`);
    tf.dispose([w1, w2, b2, x]);
  });

  it('frees every tensor over 50 forward + backward steps through the native poolings', () => {
    // GoogLeNet's pools in miniature: a 3x3/1 'same' max pool (inception branch 4), a 3x3/2
    // 'same' max pool (between stages), a 2x2/2 'same' average pool on an odd size (padded: the
    // aux heads' kind, with TF's uneven padding), and a global average pool.
    const w1 = tf.variable(tf.tensor4d(seeded(3 * 3 * 3 * 8, 1), [3, 3, 3, 8]));
    const w2 = tf.variable(tf.tensor4d(seeded(1 * 1 * 8 * 16, 2), [1, 1, 8, 16]));
    const x = tf.tensor4d(seeded(4 * 15 * 15 * 3, 3), [4, 15, 15, 3]);
    const loss = (): tf.Scalar => {
      const h = tf.maxPool(tf.relu(tf.conv2d(x, w1 as tf.Tensor4D, 1, 'same')), 3, 1, 'same'); // [4, 15, 15, 8]
      const down = tf.maxPool(h, 3, 2, 'same'); // [4, 8, 8, 8]
      const p = tf.avgPool(tf.conv2d(down, w2 as tf.Tensor4D, 1, 'same'), 2, 2, 'same'); // [4, 4, 4, 16]
      const g = tf.avgPool(p, 4, 1, 'valid'); // [4, 1, 1, 16]
      return tf.mean(tf.square(tf.sub(g, 1)));
    };
    const step = (): number => {
      const { value, grads } = tf.variableGrads(loss);
      tf.tidy(() => {
        for (const v of [w1, w2]) v.assign(tf.sub(v, tf.mul(grads[v.name]!, 0.05)));
      });
      const l = value.dataSync()[0]!;
      tf.dispose([value, ...Object.values(grads)]);
      return l;
    };
    const backend = tf.backend();
    const first = step();
    const tensors = tf.memory().numTensors;
    const dataIds = backend.numDataIds();
    const pools = addon!.poolCacheStats().hits;
    let last = first;
    for (let i = 1; i < 50; i++) {
      last = step();
      assert.equal(tf.memory().numTensors, tensors, `step ${i}: tensors`);
    }
    assert.equal(backend.numDataIds(), dataIds);
    // 4 pooling forwards and 4 pooling gradients per step, every one a cached native primitive.
    assert.equal(addon!.poolCacheStats().hits - pools, 49 * 8);
    assert.ok(last < first, `loss went from ${first} to ${last}`);
    tf.dispose([w1, w2, x]);
  });
});
