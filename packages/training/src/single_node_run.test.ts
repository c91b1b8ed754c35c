// Single-node runs on real CIFAR-10 bytes with a small model (GoogLeNet itself is trained end to end
// in test/): the run folder's contents, and that a run interrupted and resumed from its checkpoint
// (the newest, or the one before when the newest is torn) ends bit-identical to one that never stopped.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import pino from 'pino';
import { DEFAULT_HYPER_PARAMS } from '@gnet/recipe';
import { CheckpointError, ResumeMismatchError, RunFolder } from '@gnet/run-store';
import { runSingleNode, type SingleNodeResult, type SingleNodeRunOptions } from './single_node_run.js';
import { tinyModel } from './testing/tiny_model.js';

const DATA_DIR = process.env['CIFAR10_DIR'] || fileURLToPath(new URL('../../../../shared/data/cifar-10-batches-bin', import.meta.url));

before(async () => {
  await tf.setBackend('cpu');
});

function options(runDir: string, extra: Partial<SingleNodeRunOptions> = {}): SingleNodeRunOptions {
  return {
    dataDir: DATA_DIR,
    runDir,
    hp: { ...DEFAULT_HYPER_PARAMS, epochs: 2, globalBatch: 32, microBatch: 16, lrPeak: 0.05, warmupEpochs: 0.5, seed: 5 },
    createModel: (seed) => tinyModel(seed),
    modelDescription: { name: 'tiny' },
    trainLimit: 256,
    evalLimit: 200,
    evalBatch: 100,
    resume: false,
    stopAfterSteps: 0,
    checkpointEverySteps: 0,
    log: pino({ level: 'silent' }),
    ...extra,
  };
}

test('a run leaves metrics, chart, summary and checkpoint in its folder', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'run-'));
  try {
    const spans: Array<{ name: string; startMs: number; endMs: number }> = [];
    const result = await runSingleNode(
      options(dir, { timeline: { span: (name, _cat, startMs, endMs) => spans.push({ name, startMs, endMs }) } }),
    );
    assert.equal(result.epochs.length, 2);
    assert.ok(result.test && result.test.count === 200);
    // --timeline: 16 steps of four spans each (the step, then data, compute, apply inside it), 2 validations, 1 test.
    const names = spans.map((s) => s.name);
    assert.deepEqual(names.slice(0, 4), ['step', 'data', 'compute', 'apply']);
    assert.deepEqual(
      [names.filter((n) => n === 'step').length, names.filter((n) => n === 'evaluation').length, names.length],
      [16, 3, 16 * 4 + 3],
    );
    assert.ok(spans.every((s) => s.endMs >= s.startMs));
    const records = await new RunFolder(dir).readMetrics();
    assert.deepEqual(
      records.map((r) => r.kind),
      ['epoch', 'epoch', 'test'],
    );
    const first = records[0]!;
    assert.ok(first.kind === 'epoch' && first.images === 256 && first.valAccuracy! >= 0 && first.valAccuracy! <= 1);
    const summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as {
      testAccuracy: number;
      perClassAccuracy: Record<string, number>;
    };
    assert.equal(summary.testAccuracy, result.test!.accuracy);
    assert.equal(Object.keys(summary.perClassAccuracy).length, 10);
    assert.ok((await stat(join(dir, 'chart.png'))).size > 10_000);
    // The end-of-run report: the test confusion matrix counts every test image, its diagonal the correct ones.
    const confusion = JSON.parse(await readFile(join(dir, 'confusion.json'), 'utf8')) as { matrix: number[][] };
    assert.equal(
      confusion.matrix.flat().reduce((s, v) => s + v, 0),
      200,
    );
    assert.equal(
      confusion.matrix.reduce((s, row, k) => s + row[k]!, 0),
      Math.round(result.test!.accuracy * 200),
    );
    assert.ok((await stat(join(dir, 'confusion.png'))).size > 10_000);
    assert.match(await readFile(join(dir, 'report.md'), 'utf8'), /^# tiny on CIFAR-10\n[^]*\| test \| 200 \|/);
    // 8 steps per epoch, checkpoints at epoch ends only.
    assert.deepEqual(
      (await new RunFolder(dir).checkpoints().list()).map((c) => c.globalStep),
      [8, 16],
    );
    assert.ok((await stat(join(dir, 'checkpoints', 'ckpt-000000016.ckpt'))).size > 0);
    assert.ok((await stat(join(dir, 'config.json'))).size > 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// The uninterrupted run both resume tests compare against, trained once.
let straightDir: string | undefined;
let straightRun: Promise<SingleNodeResult> | undefined;
function straight(): Promise<SingleNodeResult> {
  straightRun ??= mkdtemp(join(tmpdir(), 'run-a-')).then((dir) => {
    straightDir = dir;
    return runSingleNode(options(dir));
  });
  return straightRun;
}
after(async () => {
  if (straightDir) await rm(straightDir, { recursive: true, force: true });
});

test('stopping mid-epoch and resuming ends bit-identical to an uninterrupted run', async () => {
  const b = await mkdtemp(join(tmpdir(), 'run-b-'));
  try {
    const straightResult = await straight();
    const first = await runSingleNode(options(b, { stopAfterSteps: 11 })); // epoch 1, step 3 of 8
    assert.equal(first.stoppedEarly, true);
    assert.equal(first.test, null);
    const resumed = await runSingleNode(options(b, { resume: true }));
    assert.deepEqual(resumed.weights, straightResult.weights);
    assert.deepEqual(
      resumed.epochs.map((e) => [e.trainLoss, e.trainAccuracy, e.valLoss, e.valAccuracy]),
      straightResult.epochs.map((e) => [e.trainLoss, e.trainAccuracy, e.valLoss, e.valAccuracy]),
    );
    assert.equal(resumed.test!.accuracy, straightResult.test!.accuracy);
    const records = await new RunFolder(b).readMetrics();
    assert.deepEqual(
      records.map((r) => r.kind),
      ['epoch', 'epoch', 'test'],
      'no duplicated epochs after resume',
    );
  } finally {
    await rm(b, { recursive: true, force: true });
  }
});

test('a torn newest checkpoint is skipped: the run resumes from the one before, says so, and still ends bit-identical', async () => {
  const b = await mkdtemp(join(tmpdir(), 'run-b-'));
  try {
    const straightResult = await straight();
    // Checkpoints at steps 4 and 8 (epoch end), then 11 when it stops (epoch 1, step 3 of 8).
    const first = await runSingleNode(options(b, { stopAfterSteps: 11, checkpointEverySteps: 4, keepCheckpoints: 3 }));
    assert.equal(first.stoppedEarly, true);
    const store = new RunFolder(b).checkpoints();
    assert.deepEqual(
      (await store.list()).map((c) => c.globalStep),
      [4, 8, 11],
    );
    const torn = store.pathFor(11);
    await truncate(torn, Math.floor((await stat(torn)).size / 2));

    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n'))
          if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const resumed = await runSingleNode(
      options(b, { resume: true, checkpointEverySteps: 4, keepCheckpoints: 3, log: pino({ level: 'info' }, sink) }),
    );

    const skippedLines = lines.filter((l) => l['msg'] === 'checkpoint skipped');
    assert.equal(skippedLines.length, 1, 'the torn file is reported once');
    assert.equal(skippedLines[0]!['path'], torn);
    assert.equal(skippedLines[0]!['level'], 40, 'as a warning');
    assert.match(String(skippedLines[0]!['reason']), /ckpt-000000011\.ckpt is truncated/);
    const resumedLine = lines.find((l) => l['msg'] === 'resumed');
    assert.ok(resumedLine);
    assert.equal(resumedLine['checkpoint'], store.pathFor(8));
    assert.deepEqual(resumedLine['skipped'], [torn]);
    assert.equal(resumedLine['globalStep'], 8);

    assert.equal(resumed.stoppedEarly, false);
    assert.deepEqual(resumed.weights, straightResult.weights);
    assert.deepEqual(
      resumed.epochs.map((e) => [e.trainLoss, e.trainAccuracy, e.valLoss, e.valAccuracy]),
      straightResult.epochs.map((e) => [e.trainLoss, e.trainAccuracy, e.valLoss, e.valAccuracy]),
    );
    assert.equal(resumed.test!.accuracy, straightResult.test!.accuracy);
    assert.deepEqual(
      (await new RunFolder(b).readMetrics()).map((r) => r.kind),
      ['epoch', 'epoch', 'test'],
    );
    // The torn file went with the first save after the resume; three good ones remain.
    assert.deepEqual(
      (await store.list()).map((c) => c.globalStep),
      [8, 12, 16],
    );
  } finally {
    await rm(b, { recursive: true, force: true });
  }
});

test('resume without a checkpoint, or with none good, is a typed error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'run-'));
  try {
    const ckptDir = join(dir, 'checkpoints');
    await assert.rejects(
      runSingleNode(options(dir, { resume: true })),
      (e: unknown) =>
        e instanceof CheckpointError &&
        e.code === 'CKPT_NOT_FOUND' &&
        e.message === `Cannot resume: ${ckptDir} holds no checkpoint (ckpt-<step>.ckpt)`,
    );
    await mkdir(ckptDir);
    await writeFile(join(ckptDir, 'ckpt-000000008.ckpt'), 'torn');
    await writeFile(join(ckptDir, 'ckpt-000000016.ckpt'), '');
    await assert.rejects(
      runSingleNode(options(dir, { resume: true })),
      (e: unknown) =>
        e instanceof CheckpointError &&
        e.code === 'CKPT_NONE_GOOD' &&
        e.message.includes('ckpt-000000008.ckpt is not a checkpoint') &&
        e.message.includes('ckpt-000000016.ckpt is truncated'),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('resume with changed hyperparameters is refused, naming each field (the coordinator policy); a changed micro-batch is allowed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'run-'));
  try {
    const first = await runSingleNode(options(dir, { stopAfterSteps: 3 }));
    assert.equal(first.stoppedEarly, true);
    const base = options(dir).hp;
    await assert.rejects(
      runSingleNode(options(dir, { resume: true, hp: { ...base, lrPeak: 0.1, weightDecay: 0 } })),
      (e: unknown) =>
        e instanceof ResumeMismatchError &&
        e.code === 'RESUME_MISMATCH' &&
        JSON.stringify(e.fields) === JSON.stringify(['hyper.lrPeak', 'hyper.weightDecay']) &&
        e.message.includes('hyper.lrPeak (checkpoint 0.05, now 0.1)'),
    );
    const resumed = await runSingleNode(options(dir, { resume: true, stopAfterSteps: 1, hp: { ...base, microBatch: 8 } }));
    assert.equal(resumed.stoppedEarly, true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
