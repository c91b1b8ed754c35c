import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EpochMeter, type StepReport } from './epoch_meter.js';

const m = (loss: number, correct: number, count: number, reduceMs: number, stepMs: number): StepReport => ({
  loss,
  correct,
  count,
  timings: { dataMs: 1, computeMs: stepMs - reduceMs - 1, reduceMs, applyMs: 0, stepMs },
});

test('losses are weighted by images, the communication share is averaged over reports', () => {
  const meter = new EpochMeter();
  meter.addRound([m(1, 4, 8, 10, 100), m(3, 0, 8, 30, 100)], 0.5);
  meter.addRound([m(2, 8, 8, 0, 100), m(2, 8, 8, 40, 100)], 0.5);
  const r = meter.result();
  assert.deepEqual([r.steps, r.images, r.trainLoss, r.trainAccuracy, r.seconds, r.imagesPerSecond], [2, 32, 2, 0.625, 1, 32]);
  assert.ok(Math.abs(r.communicationShare - 0.2) < 1e-12);
  assert.equal(r.meanStepMs.reduceMs, 20);
});

test('a meter restored from its state (a checkpoint) goes on as if never interrupted; anything else restores an empty one', () => {
  const whole = new EpochMeter();
  const before = new EpochMeter();
  const rounds = [10, 20, 30].map((reduceMs, i) => [m(1 + i, 3 + i, 8, reduceMs, 100), m(2, 4, 8, reduceMs + 5, 100)]);
  rounds.forEach((r, i) => {
    whole.addRound(r, 1 + i);
    if (i < 2) before.addRound(r, 1 + i);
  });
  const resumed = EpochMeter.restore(JSON.parse(JSON.stringify(before.state())));
  resumed.addRound(rounds[2]!, 3);
  assert.deepEqual(resumed.result(), whole.result());
  for (const bad of [undefined, null, 'x', { steps: -1 }, { ...before.state(), phases: null }, { ...before.state(), count: Number.NaN }]) {
    assert.deepEqual(EpochMeter.restore(bad).state(), new EpochMeter().state());
  }
});

test('a skipped step (NaN loss on one rank) counts as a step and its time, never in the loss, the accuracy or the images', () => {
  const meter = new EpochMeter();
  meter.addRound([m(1, 4, 8, 10, 100), m(3, 0, 8, 30, 100)], 0.5);
  meter.addRound([m(Number.NaN, 0, 8, 0, 100), m(2, 8, 8, 40, 100)], 0.5, true);
  const r = meter.result();
  assert.deepEqual(
    [r.steps, r.skippedSteps, r.images, r.trainLoss, r.trainAccuracy, r.seconds, r.imagesPerSecond],
    [2, 1, 16, 2, 0.25, 1, 16],
  );
  // Its state survives a checkpoint; a checkpoint from before skipped steps were kept reads 0.
  const restored = EpochMeter.restore(JSON.parse(JSON.stringify(meter.state())));
  assert.deepEqual(restored.result(), r);
  const { skippedSteps: _dropped, ...older } = meter.state();
  assert.equal(EpochMeter.restore(older).result().skippedSteps, 0);
});

test('an epoch whose every step was skipped has no training loss or accuracy (NaN, written as null), not 0', () => {
  const meter = new EpochMeter();
  meter.addRound([m(Number.NaN, 0, 8, 0, 100), m(2, 8, 8, 40, 100)], 0.5, true);
  const r = meter.result();
  assert.deepEqual([r.steps, r.skippedSteps, r.images], [1, 1, 0]);
  assert.ok(Number.isNaN(r.trainLoss) && Number.isNaN(r.trainAccuracy), JSON.stringify(r));
  assert.deepEqual(JSON.parse(JSON.stringify({ loss: r.trainLoss })), { loss: null });
});
