// Registering and unregistering our kernels: idempotent, the stock kernels come back intact, and
// registering before the backend initialises still sets the stock kernels up.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { getKernel } from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerTrainingKernels, trainingKernelsRegistered, unregisterTrainingKernels } from './training_kernels.js';

describe('registerTrainingKernels', () => {
  it('replaces the kernels once and restores the stock ones (wasm had no dW kernel at all)', () => {
    unregisterTrainingKernels('wasm');
    const stockDx = getKernel('Conv2DBackpropInput', 'wasm');
    assert.ok(stockDx !== undefined);
    assert.equal(getKernel('Conv2DBackpropFilter', 'wasm'), undefined);

    const names = registerTrainingKernels('wasm');
    assert.deepEqual(names, ['Conv2DBackpropInput', 'Conv2DBackpropFilter', 'MaxPoolGrad', 'Slice', 'SplitV']);
    assert.equal(trainingKernelsRegistered('wasm'), true);
    const ours = getKernel('Conv2DBackpropInput', 'wasm');
    assert.notEqual(ours, stockDx);
    assert.deepEqual(registerTrainingKernels('wasm'), names, 'second call is a no-op');
    assert.equal(getKernel('Conv2DBackpropInput', 'wasm'), ours);

    unregisterTrainingKernels('wasm');
    assert.equal(trainingKernelsRegistered('wasm'), false);
    assert.equal(getKernel('Conv2DBackpropInput', 'wasm'), stockDx);
    assert.equal(getKernel('Conv2DBackpropFilter', 'wasm'), undefined);
  });

  it('leaves the other backend alone', () => {
    unregisterTrainingKernels('cpu');
    const cpuDw = getKernel('Conv2DBackpropFilter', 'cpu');
    registerTrainingKernels('wasm');
    assert.equal(getKernel('Conv2DBackpropFilter', 'cpu'), cpuDw);
    assert.equal(trainingKernelsRegistered('cpu'), false);
    unregisterTrainingKernels('wasm');
  });
});

describe('registering before the backend initialises', () => {
  it('still sets up the stock kernels we fall back to and restore', async () => {
    // Nothing in this file has initialised wasm yet (each test file runs in its own process).
    registerTrainingKernels('wasm');
    await tf.setBackend('wasm');
    unregisterTrainingKernels('wasm');
    const dy = tf.ones([1, 3, 3, 2]);
    const filter = tf.ones([3, 3, 4, 2]);
    const dx = tf
      .engine()
      .runKernel(
        'Conv2DBackpropInput',
        { dy, filter },
        { strides: 1, pad: 'same', dataFormat: 'NHWC', inputShape: [1, 3, 3, 4] },
      ) as tf.Tensor;
    // Centre pixel: all 9 taps x 2 output channels reach it.
    assert.equal(dx.dataSync()[4 * 4], 18);
  });
});
