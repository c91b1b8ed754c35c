// TF.js leaks silently: GoogLeNet trained through the Replica for many steps (forward, backward with
// our wasm kernels or oneDNN's, BatchNorm running-stat updates, SGD write-back) must keep
// tf.memory().numTensors flat, and evaluation must too, on each backend a worker may train on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { createGoogLeNet } from '@gnet/model';
import { selectBackend } from './backend/select_backend.js';
import { emptyEvalSums, evaluateImages } from './evaluate.js';
import { Replica } from './replica.js';

for (const backend of ['onednn', 'wasm'] as const)
  test(`numTensors stays flat over 25 GoogLeNet training steps and evaluations on ${backend}`, async () => {
    await selectBackend({ requested: backend, log: { info: () => undefined } });
    const model = createGoogLeNet({ width: 0.0625, auxHeads: true, batchNorm: true }, 3);
    const replica = new Replica(model, { momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
    const n = 4;
    const images = Float32Array.from({ length: n * 3072 }, (_, i) => Math.sin(i * 0.01));
    const labels = Int32Array.from({ length: n }, (_, i) => i % 10);
    const step = (seed: number) => {
      replica.zeroGrad();
      const stats = replica.accumulate(
        { images, labels, count: n },
        { microBatch: 2, labelSmoothing: 0.1, auxWeight: 0.3, lossScale: 1 / n, seed },
      );
      replica.apply(0.01);
      evaluateImages(model, images, labels, n, 2, emptyEvalSums(10));
      return stats;
    };
    step(0); // first step creates lazily allocated state
    const baseline = tf.memory().numTensors;
    for (let i = 1; i <= 25; i++) {
      const stats = step(i);
      assert.ok(Number.isFinite(stats.lossSum));
      assert.equal(tf.memory().numTensors, baseline, `numTensors grew at step ${i}`);
    }
    model.dispose();
  });
