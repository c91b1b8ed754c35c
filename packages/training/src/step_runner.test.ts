import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Replica } from './replica.js';
import { identityReduce, StepRunner, TooManySkippedStepsError, type GradientReduce } from './step_runner.js';
import { tinyModel } from './testing/tiny_model.js';

before(async () => {
  await tf.setBackend('cpu');
});

function batch(n: number, seed: number) {
  const labels = Int32Array.from({ length: n }, (_, i) => (i * 7 + seed) % 10);
  const images = Float32Array.from(
    { length: n * 3072 },
    (_, j) => Math.sin(j * 0.37 + seed) + Math.sin(labels[Math.floor(j / 3072)]! * 1.7 + (j % 3) * 2.1),
  );
  return { images, labels, count: n };
}

const sgd = { momentum: 0.9, nesterov: true, weightDecay: 5e-4 };
const recipe = { microBatch: 3, labelSmoothing: 0.1, auxWeight: 0.3, globalBatch: 8 };

test('with the identity reduce, a step is zeroGrad, accumulate and apply on the replica, bit for bit', async () => {
  const manual = new Replica(tinyModel(3), sgd);
  const stepped = new Replica(tinyModel(3), sgd);
  stepped.setWeights(manual.weights);
  const data = batch(8, 1);
  const runner = new StepRunner({ replica: stepped, ...recipe, reduce: identityReduce, yieldBetweenMicroBatches: false });
  for (let step = 0; step < 3; step++) {
    manual.zeroGrad();
    const stats = manual.accumulate(data, { microBatch: 3, labelSmoothing: 0.1, auxWeight: 0.3, lossScale: 1 / 8, seed: 40 + step });
    manual.apply(0.05);
    const result = await runner.run(data, { lr: 0.05, seed: 40 + step });
    assert.ok(result !== null);
    assert.deepEqual(result.stats, stats);
    assert.equal(result.loss, stats.lossSum / stats.count);
    assert.equal(result.skipped, false);
    assert.ok(
      result.times.startMs <= result.times.accumulatedMs &&
        result.times.accumulatedMs <= result.times.reducedMs &&
        result.times.reducedMs <= result.times.appliedMs,
    );
  }
  assert.deepEqual(stepped.weights, manual.weights);
});

test('the reduce hook sees the local gradient and its sum is what is applied; its failure leaves the weights as they were', async () => {
  const replica = new Replica(tinyModel(5), sgd);
  const seen: number[] = [];
  // Stands for an all-reduce over two identical ranks: the sum doubles the gradient.
  const doubling: GradientReduce = (grads) => {
    seen.push(grads[0]!);
    for (let i = 0; i < grads.length; i++) grads[i] = grads[i]! * 2;
    return Promise.resolve();
  };
  const data = batch(8, 2);
  const reference = new Replica(tinyModel(5), sgd);
  reference.setWeights(replica.weights);
  reference.zeroGrad();
  reference.accumulate(data, { microBatch: 3, labelSmoothing: 0.1, auxWeight: 0.3, lossScale: 1 / 8, seed: 9 });
  for (let i = 0; i < reference.grads.length; i++) reference.grads[i] = reference.grads[i]! * 2;
  reference.apply(0.1);
  await new StepRunner({ replica, ...recipe, reduce: doubling, yieldBetweenMicroBatches: true }).run(data, { lr: 0.1, seed: 9 });
  assert.equal(seen.length, 1);
  assert.deepEqual(replica.weights, reference.weights);

  const before = Float32Array.from(replica.weights);
  const failing = new StepRunner({
    replica,
    ...recipe,
    reduce: () => Promise.reject(new Error('peer lost')),
    yieldBetweenMicroBatches: false,
  });
  await assert.rejects(failing.run(data, { lr: 0.1, seed: 10 }), /peer lost/);
  assert.deepEqual(replica.weights, before);
});

test('a non-finite gradient skips the update on every step until the limit, which is a typed error naming the step', async () => {
  const replica = new Replica(tinyModel(6), sgd);
  const runner = new StepRunner({ replica, ...recipe, reduce: identityReduce, yieldBetweenMicroBatches: false, maxSkippedSteps: 2 });
  const data = batch(8, 3);
  const before = Float32Array.from(replica.weights);
  const first = await runner.run(data, { lr: 0.1, seed: 1, poison: true });
  assert.equal(first?.skipped, true);
  assert.ok(Number.isNaN(first.loss));
  assert.deepEqual(replica.weights, before, 'a skipped step leaves the weights');
  runner.checkSkipLimit({ epoch: 0, step: 0, globalStep: 0 });
  // An applied step resets the count in a row.
  assert.equal((await runner.run(data, { lr: 0.1, seed: 2 }))?.skipped, false);
  assert.equal(runner.skippedInARow, 0);
  await runner.run(data, { lr: 0.1, seed: 3, poison: true });
  assert.equal(runner.overSkipLimit, false);
  await runner.run(data, { lr: 0.1, seed: 4, poison: true });
  assert.equal(runner.overSkipLimit, true);
  assert.equal(runner.skippedSteps, 3);
  assert.throws(
    () => runner.checkSkipLimit({ epoch: 1, step: 2, globalStep: 7 }),
    (err: unknown) =>
      err instanceof TooManySkippedStepsError &&
      err.code === 'TRAIN_DIVERGED' &&
      /2 steps in a row \(up to global step 7/.test(err.message) &&
      /limit 2/.test(err.message),
  );
});

test('abandon after the accumulation drops the step before the reduce', async () => {
  const replica = new Replica(tinyModel(7), sgd);
  let reduced = 0;
  const runner = new StepRunner({ replica, ...recipe, reduce: () => Promise.resolve(void (reduced += 1)), yieldBetweenMicroBatches: true });
  const before = Float32Array.from(replica.weights);
  assert.equal(await runner.run(batch(8, 4), { lr: 0.1, seed: 1, abandon: () => true }), null);
  assert.equal(reduced, 0);
  assert.deepEqual(replica.weights, before);
});

test('steps leak no tensors', async () => {
  const replica = new Replica(tinyModel(8), sgd);
  const runner = new StepRunner({ replica, ...recipe, reduce: identityReduce, yieldBetweenMicroBatches: true });
  const data = batch(8, 5);
  await runner.run(data, { lr: 0.05, seed: 0 });
  const baseline = tf.memory().numTensors;
  for (let step = 1; step < 6; step++) {
    await runner.run(data, { lr: 0.05, seed: step, poison: step === 3 });
    assert.equal(tf.memory().numTensors, baseline, `tensor count grew at step ${step}`);
  }
});

test('the limit must be an integer >= 1 or Infinity', () => {
  const replica = new Replica(tinyModel(9), sgd);
  assert.throws(
    () => new StepRunner({ replica, ...recipe, reduce: identityReduce, yieldBetweenMicroBatches: false, maxSkippedSteps: 0 }),
    /maxSkippedSteps must be an integer >= 1 or Infinity, but got 0/,
  );
  new StepRunner({ replica, ...recipe, reduce: identityReduce, yieldBetweenMicroBatches: false, maxSkippedSteps: Infinity });
});
