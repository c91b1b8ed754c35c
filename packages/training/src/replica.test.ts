import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Replica } from './replica.js';
import { tinyModel } from './testing/tiny_model.js';

before(async () => {
  await tf.setBackend('cpu');
});

function batch(n: number, seed: number) {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const labels = Int32Array.from({ length: n }, (_, i) => (i * 7 + seed) % 10);
  // Noise plus a class-dependent colour, so the labels are learnable.
  const images = Float32Array.from(
    { length: n * 3072 },
    (_, j) => 0.5 * rnd() + Math.sin(labels[Math.floor(j / 3072)]! * 1.7 + (j % 3) * 2.1),
  );
  return { images, labels, count: n };
}

const opts = { microBatch: 8, labelSmoothing: 0.1, auxWeight: 0.3, lossScale: 1 / 8, seed: 1 };
const sgd = { momentum: 0.9, nesterov: true, weightDecay: 5e-4 };

test('micro-batches accumulate to the full-batch gradient', () => {
  const a = new Replica(tinyModel(3), sgd);
  const b = new Replica(tinyModel(3), sgd);
  b.setWeights(a.weights);
  const data = batch(8, 5);
  const sa = a.accumulate(data, opts);
  const sb = b.accumulate(data, { ...opts, microBatch: 3 });
  assert.equal(sa.count, 8);
  assert.ok(Math.abs(sa.lossSum - sb.lossSum) < 1e-4);
  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < a.grads.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a.grads[i]! - b.grads[i]!));
    maxAbs = Math.max(maxAbs, Math.abs(a.grads[i]!));
  }
  assert.ok(maxAbs > 1e-3, 'gradient should not be zero');
  assert.ok(maxDiff < 1e-5 * Math.max(1, maxAbs), `max diff ${maxDiff}`);
});

test('training steps reduce the loss on a fixed batch and leak no tensors', () => {
  const r = new Replica(tinyModel(7), sgd);
  const data = batch(8, 9);
  const losses: number[] = [];
  // Warm up once so lazily created kernels/constants are counted in the baseline.
  r.zeroGrad();
  losses.push(r.accumulate(data, opts).lossSum / 8);
  r.apply(0.05);
  const baseline = tf.memory().numTensors;
  for (let step = 0; step < 40; step++) {
    r.zeroGrad();
    losses.push(r.accumulate(data, opts).lossSum / 8);
    r.apply(0.3);
    assert.equal(tf.memory().numTensors, baseline, `tensor count grew at step ${step}`);
  }
  assert.ok(losses.at(-1)! < losses[0]! * 0.8, `loss ${losses[0]} → ${losses.at(-1)}`);
});

test('snapshot/restore reproduces the same next step bit for bit', () => {
  const r = new Replica(tinyModel(11), sgd);
  const data = batch(8, 2);
  for (let i = 0; i < 3; i++) {
    r.zeroGrad();
    r.accumulate(data, opts);
    r.apply(0.05);
  }
  const snap = r.snapshot({ step: 3 });
  const other = new Replica(tinyModel(99), sgd);
  other.restore(snap, 'snapshot');
  for (const x of [r, other]) {
    x.zeroGrad();
    x.accumulate(data, opts);
    x.apply(0.05);
  }
  assert.deepEqual(other.weights, r.weights);
  assert.deepEqual(other.readBuffers(), r.readBuffers());
});

test('accumulateYielding gives the event loop a turn between micro-batches and the same gradient, bit for bit', async () => {
  const a = new Replica(tinyModel(4), sgd);
  const b = new Replica(tinyModel(4), sgd);
  b.setWeights(a.weights);
  const data = batch(10, 6);
  const micro = { ...opts, microBatch: 3 }; // 4 micro-batches: 3 + 3 + 3 + 1
  const sa = a.accumulate(data, micro);
  let turns = 0;
  const ticker = setInterval(() => void (turns += 1), 0);
  let sb;
  try {
    sb = await b.accumulateYielding(data, micro);
  } finally {
    clearInterval(ticker);
  }
  assert.ok(turns >= 3, `timers ran ${turns} times during the 4 micro-batches (at least once between each two)`);
  assert.deepEqual(sb, sa);
  assert.ok(a.grads.some((grad) => grad !== 0));
  assert.deepEqual(b.grads, a.grads);
  const tensors = tf.memory().numTensors;
  await b.accumulateYielding(data, micro);
  assert.equal(tf.memory().numTensors, tensors, 'no tensor outlives the call');
});
