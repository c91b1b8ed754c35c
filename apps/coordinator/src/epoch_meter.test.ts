import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Metrics } from '@gnet/protocol';
import { EpochMeter } from './epoch_meter.js';

const m = (loss: number, correct: number, count: number, reduceMs: number, stepMs: number): Metrics => ({
  type: 'metrics',
  round: 1,
  epoch: 0,
  step: 0,
  loss,
  correct,
  count,
  timings: { dataMs: 1, computeMs: stepMs - reduceMs - 1, reduceMs, applyMs: 0, stepMs },
  skipped: false,
  memory: { numTensors: 0, rssBytes: 0, heapUsedBytes: 0 },
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
