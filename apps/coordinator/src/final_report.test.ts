import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReportError, type EpochRecord } from '@gnet/run-store';
import { parseCoordinatorConfig } from './coordinator_config.js';
import type { CoordinatorResult } from './coordinator.js';
import { FinalReport } from './final_report.js';
import { RunEvents } from './run_events.js';
import { planRun } from './run_plan.js';

const plan = planRun(
  parseCoordinatorConfig(['--workers', '2', '--width', '0.25', '--algorithm', 'star', '--eval-limit', '100'], {}),
  ['cpu', 'cpu'],
  {
    trainImages: 1024,
    trainIndicesDigest: 'a'.repeat(64),
    valAvailable: 5000,
    testAvailable: 10_000,
  },
);
const epochs: EpochRecord[] = [
  {
    kind: 'epoch',
    epoch: 1,
    steps: 8,
    images: 1024,
    seconds: 10,
    imagesPerSecond: 102.4,
    lr: 0.1,
    trainLoss: 2.2,
    trainAccuracy: 0.18,
    valLoss: 2.1,
    valAccuracy: 0.22,
  },
];

/** 100 test images, 10 per class; class k: 10 - k right, k predicted as class 0. */
const confusion = Array.from({ length: 100 }, (_, i) => {
  const [t, p] = [Math.floor(i / 10), i % 10];
  return t === 0 ? (p === 0 ? 10 : 0) : p === t ? 10 - t : p === 0 ? t : 0;
});
const correct = 10 + Array.from({ length: 9 }, (_, k) => 10 - (k + 1)).reduce((s, v) => s + v, 0);

function result(): CoordinatorResult {
  return {
    epochs,
    plan,
    generations: 1,
    test: { kind: 'test', split: 'test', loss: 1.9, accuracy: correct / 100, perClassAccuracy: {}, count: 100 },
  };
}

test('the report takes the test confusion matrix from the feed, the rest from the result', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'final-report-'));
  try {
    const events = new RunEvents();
    const report = new FinalReport(events);
    // A validation matrix is not the test's.
    events.emit({
      kind: 'evaluation',
      atMs: 1,
      split: 'val',
      epoch: 0,
      loss: 2,
      accuracy: 0.1,
      count: 100,
      perClassAccuracy: {},
      confusion: new Array<number>(100).fill(1),
    });
    events.emit({
      kind: 'evaluation',
      atMs: 2,
      split: 'test',
      epoch: 0,
      loss: 1.9,
      accuracy: correct / 100,
      count: 100,
      perClassAccuracy: {},
      confusion,
    });
    const written = await report.write(dir, result());
    const json = JSON.parse(await readFile(written.confusionJson, 'utf8')) as { matrix: number[][]; correct: number };
    assert.deepEqual(json.matrix.flat(), confusion);
    assert.equal(json.correct, correct);
    const md = await readFile(written.markdown, 'utf8');
    assert.ok(md.startsWith('# GoogLeNet (width 0.25) on CIFAR-10, 2 workers (star)\n'), md.slice(0, 100));
    assert.ok(md.includes('| validation (after epoch 1) | 100 | 2.1000 | 22.00% |'), md);
    assert.ok(md.includes('| all-reduce | star, float32 |'), md);
    assert.ok(md.includes('| truck | 10 | 1 | 10.00% | airplane (9) |'), md);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('without a test evaluation on the feed there is no report', async () => {
  const report = new FinalReport(new RunEvents());
  await assert.rejects(
    report.write('/nonexistent-run', result()),
    (err: unknown) =>
      err instanceof ReportError &&
      err.code === 'REPORT_NO_CONFUSION' &&
      err.message === "no test evaluation was published on the run's event feed, so /nonexistent-run gets no confusion matrix",
  );
});
