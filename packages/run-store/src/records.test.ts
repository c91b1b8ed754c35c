import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EpochMeter } from './epoch_meter.js';
import { epochRecord, perClassAccuracy, testRecord } from './records.js';
import { checkResumable, differingFields, ResumeMismatchError } from './resume_policy.js';

test('per-class accuracy is null for a class with no evaluated image, and the test record survives JSON unchanged', () => {
  const sums = { lossSum: 3, correct: 2, count: 3, perClassCorrect: [2, 0, 0], perClassCount: [2, 1, 0] };
  assert.deepEqual(perClassAccuracy(['a', 'b', 'c'], sums), { a: 1, b: 0, c: null });
  const record = testRecord(['a', 'b', 'c'], sums);
  assert.deepEqual(JSON.parse(JSON.stringify(record)), record);
  assert.throws(() => perClassAccuracy(['a', 'b'], sums), /must hold 2 classes, but hold 3 correct and 3 counts/);
});

test('the epoch record carries the meter figures, the lr, the validation sums and the group', () => {
  const meter = new EpochMeter();
  meter.addRound([{ loss: 2, correct: 3, count: 4, timings: { dataMs: 1, computeMs: 2, reduceMs: 0, applyMs: 1, stepMs: 4 } }], 0.5);
  const record = epochRecord({
    epochIndex: 0,
    training: meter.result(),
    lr: 0.1,
    val: { lossSum: 5, correct: 1, count: 10, perClassCorrect: [], perClassCount: [] },
    worldSize: 1,
    generation: 0,
  });
  assert.deepEqual(
    { ...record, meanStepMs: undefined },
    {
      kind: 'epoch',
      epoch: 1,
      steps: 1,
      skippedSteps: 0,
      images: 4,
      seconds: 0.5,
      imagesPerSecond: 8,
      lr: 0.1,
      trainLoss: 2,
      trainAccuracy: 0.75,
      valLoss: 0.5,
      valAccuracy: 0.1,
      communicationShare: 0,
      meanStepMs: undefined,
      worldSize: 1,
      generation: 0,
    },
  );
});

test('resume policy: differing fields are named with both values; microBatch may change; a retired field is ignored; old metadata is refused', () => {
  const meta = {
    runId: 'r',
    position: { epoch: 0, stepInEpoch: 1, globalStep: 1 },
    epochs: [],
    hyper: { lrPeak: 0.1, microBatch: 8, augmentation: { crop: 4 } },
    model: { width: 1 },
    worldSize: 1,
  };
  assert.equal(checkResumable(meta, { hyper: { lrPeak: 0.1, microBatch: 16, augmentation: { crop: 4 } }, model: { width: 1 } }, 'p'), meta);
  assert.deepEqual(differingFields({ a: 1, b: { c: 2 } }, { a: 1, b: { c: 3 }, d: 0 }, 'hyper'), ['hyper.b.c', 'hyper.d']);
  assert.throws(
    () => checkResumable(meta, { hyper: { lrPeak: 0.2, microBatch: 8, augmentation: { crop: 0 } }, model: { width: 0.5 } }, 'p'),
    (e: unknown) =>
      e instanceof ResumeMismatchError &&
      e.message ===
        "the settings differ from those of p in hyper.augmentation.crop (checkpoint 4, now 0), hyper.lrPeak (checkpoint 0.1, now 0.2), model.width (checkpoint 1, now 0.5); pass the run's original settings",
  );
  // A checkpoint of protocol 2 carries the retired hyper.evalEvery (always 0): it resumes.
  const protocol2 = { ...meta, hyper: { ...meta.hyper, evalEvery: 0 } };
  assert.equal(checkResumable(protocol2, { hyper: meta.hyper, model: meta.model }, 'p'), protocol2);
  assert.throws(
    () => checkResumable({ position: { globalStep: 1 }, epochs: [], hp: {} }, { hyper: {}, model: {} }, 'old.ckpt'),
    /old.ckpt has no runId, position or epochs/,
  );
});
