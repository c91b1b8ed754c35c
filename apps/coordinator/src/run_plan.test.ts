import { test } from 'node:test';
import assert from 'node:assert/strict';
import { layoutElements } from '@gnet/collective';
import { ConfigError, parseCoordinatorConfig } from './coordinator_config.js';
import { chooseMicroBatch, planGradientBuckets, planRun, type SplitFacts } from './run_plan.js';

const facts: SplitFacts = { trainImages: 45_000, trainIndicesDigest: 'a'.repeat(64), valAvailable: 5000, testAvailable: 10_000 };

test('the plan splits the global batch, keeps the schedule in steps and covers every parameter', () => {
  const cfg = parseCoordinatorConfig(['--workers', '2', '--width', '0.25', '--warmup-epochs', '1', '--epochs', '3'], {});
  const plan = planRun(cfg, ['cpu', 'cpu'], facts);
  assert.equal(plan.hyper.globalBatch, 128);
  assert.equal(plan.hyper.microBatch, 64);
  assert.equal(plan.stepsPerEpoch, Math.floor(45_000 / 128));
  // Another group size keeps the schedule: only the micro-batch follows the largest slice.
  const three = planRun(cfg, ['cpu', 'cpu', 'cpu'], facts);
  assert.deepEqual([three.stepsPerEpoch, three.hyper.globalBatch, three.hyper.microBatch], [plan.stepsPerEpoch, 128, 43]);
  assert.deepEqual(three.schedule, plan.schedule);
  assert.deepEqual(plan.schedule, { lrPeak: 0.1, warmupSteps: plan.stepsPerEpoch, totalSteps: 3 * plan.stepsPerEpoch });
  assert.equal(layoutElements(plan.buckets), plan.paramElements);
  assert.deepEqual(plan.hyper.augmentation, { cropPaddingPx: 4, flip: true, cutoutPx: 16 });
  assert.deepEqual([plan.valImages, plan.testImages], [5000, 10_000]);
  assert.equal(plan.shard.datasetSize, 45_000);
});

test('a wasm worker caps the micro-batch to what its heap holds', () => {
  assert.equal(chooseMicroBatch(128, 64, ['cpu', 'cpu'], 1), 64);
  assert.equal(chooseMicroBatch(128, 64, ['cpu', 'wasm'], 1), 16);
  assert.equal(chooseMicroBatch(128, 48, ['wasm'], 1), 16);
  assert.equal(chooseMicroBatch(128, 20, ['wasm'], 1), 16);
  // wasm holds width × images <= 16 per pass (@gnet/training's maxMicroBatch).
  assert.equal(chooseMicroBatch(128, 64, ['wasm'], 0.25), 64);
  assert.equal(chooseMicroBatch(128, 128, ['wasm'], 0.25), 64);
  assert.equal(chooseMicroBatch(128, 128, ['wasm'], 0.5), 32);
  assert.equal(chooseMicroBatch(7, 64, ['cpu'], 1), 7);
});

test('gradient buckets are equal slices of at most bucketBytes', () => {
  assert.deepEqual(planGradientBuckets(10, 16), [
    { bucket: 0, offset: 0, length: 4 },
    { bucket: 1, offset: 4, length: 4 },
    { bucket: 2, offset: 8, length: 2 },
  ]);
  assert.equal(planGradientBuckets(6_000_000, 25 * 1024 * 1024).length, 1);
});

test('a batch larger than the training shard is refused, naming both', () => {
  const cfg = parseCoordinatorConfig(['--workers', '2', '--batch-size', '256'], {});
  assert.throws(
    () => planRun(cfg, ['cpu', 'cpu'], { ...facts, trainImages: 200 }),
    (e: unknown) => e instanceof ConfigError && /^--batch-size \(256\) must not exceed the training images \(200\)/.test(e.message),
  );
});
