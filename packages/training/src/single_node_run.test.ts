// Single-node runs on real CIFAR-10 bytes with a small model (GoogLeNet itself is trained end to end
// in test/): the run folder's contents, and that a run interrupted and resumed from its checkpoint
// ends bit-identical to one that never stopped.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import pino from 'pino';
import { defaultHyperParams } from './hyperparams.js';
import { RunFolder } from '@gnet/run-store';
import { runSingleNode, type SingleNodeRunOptions } from './single_node_run.js';
import { tinyModel } from './tiny_model.test_util.js';

const DATA_DIR = process.env['CIFAR10_DIR'] || fileURLToPath(new URL('../../../../shared/data/cifar-10-batches-bin', import.meta.url));

before(async () => {
  await tf.setBackend('cpu');
});

function options(runDir: string, extra: Partial<SingleNodeRunOptions> = {}): SingleNodeRunOptions {
  return {
    dataDir: DATA_DIR,
    runDir,
    hp: { ...defaultHyperParams, epochs: 2, batchSize: 32, microBatch: 16, lrPeak: 0.05, warmupEpochs: 0.5, seed: 5 },
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
    const result = await runSingleNode(options(dir));
    assert.equal(result.epochs.length, 2);
    assert.ok(result.test && result.test.count === 200);
    const records = await new RunFolder(dir).readMetrics();
    assert.deepEqual(records.map((r) => r.kind), ['epoch', 'epoch', 'test']);
    const first = records[0]!;
    assert.ok(first.kind === 'epoch' && first.images === 256 && first.valAccuracy! >= 0 && first.valAccuracy! <= 1);
    const summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as { testAccuracy: number; perClassAccuracy: Record<string, number> };
    assert.equal(summary.testAccuracy, result.test!.accuracy);
    assert.equal(Object.keys(summary.perClassAccuracy).length, 10);
    assert.ok((await stat(join(dir, 'chart.png'))).size > 10_000);
    assert.ok((await stat(join(dir, 'checkpoints', 'latest.ckpt'))).size > 0);
    assert.ok((await stat(join(dir, 'config.json'))).size > 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('stopping mid-epoch and resuming ends bit-identical to an uninterrupted run', async () => {
  const a = await mkdtemp(join(tmpdir(), 'run-a-'));
  const b = await mkdtemp(join(tmpdir(), 'run-b-'));
  try {
    const straight = await runSingleNode(options(a));
    const first = await runSingleNode(options(b, { stopAfterSteps: 11 })); // epoch 1, step 3 of 8
    assert.equal(first.stoppedEarly, true);
    assert.equal(first.test, null);
    const resumed = await runSingleNode(options(b, { resume: true }));
    assert.deepEqual(resumed.weights, straight.weights);
    assert.deepEqual(
      resumed.epochs.map((e) => [e.trainLoss, e.trainAccuracy, e.valLoss, e.valAccuracy]),
      straight.epochs.map((e) => [e.trainLoss, e.trainAccuracy, e.valLoss, e.valAccuracy]),
    );
    assert.equal(resumed.test!.accuracy, straight.test!.accuracy);
    const records = await new RunFolder(b).readMetrics();
    assert.deepEqual(records.map((r) => r.kind), ['epoch', 'epoch', 'test'], 'no duplicated epochs after resume');
  } finally {
    await rm(a, { recursive: true, force: true });
    await rm(b, { recursive: true, force: true });
  }
});

test('resume without a checkpoint is a typed error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'run-'));
  try {
    await assert.rejects(runSingleNode(options(dir, { resume: true })), (e: unknown) => (e as { code?: string }).code === 'CKPT_NOT_FOUND');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
