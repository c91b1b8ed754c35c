import { test } from 'node:test';
import assert from 'node:assert/strict';
import { learningRateAt } from './lr_schedule.js';

const s = { lrPeak: 0.1, warmupSteps: 10, totalSteps: 110 };

test('warm-up rises linearly to the peak', () => {
  assert.equal(learningRateAt(0, s), 0.01);
  assert.ok(Math.abs(learningRateAt(9, s) - 0.1) < 1e-12);
  for (let i = 1; i < 10; i++) assert.ok(learningRateAt(i, s) > learningRateAt(i - 1, s));
});

test('cosine decays from the peak to the final value', () => {
  assert.ok(Math.abs(learningRateAt(10, s) - 0.1) < 1e-12);
  assert.ok(Math.abs(learningRateAt(60, s) - 0.05) < 1e-12);
  assert.ok(Math.abs(learningRateAt(110, s)) < 1e-12);
  for (let i = 11; i <= 110; i++) assert.ok(learningRateAt(i, s) < learningRateAt(i - 1, s));
});

test('rejects a bad step with a message naming it', () => {
  assert.throws(() => learningRateAt(-1, s), /`step` passed to learningRateAt must be a non-negative integer, but got -1/);
});
