// The proof that GoogLeNet learns: the single-node trainer, started as a real process exactly as
// `nx run worker:train` starts it, trains a narrow GoogLeNet for a few minutes on a few thousand real
// CIFAR-10 images and must reach a validation accuracy far above chance (10%). A broken gradient, a
// wrong label mapping or swapped channels stay near 10%.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CIFAR10_TEST_DIR } from './cifar_dir.js';
import { runApp } from './run_process.js';

const TRAIN_IMAGES = 2048;
const EVAL_IMAGES = 500;
const MIN_VAL_ACCURACY = 0.3;

test(`narrow GoogLeNet reaches >= ${MIN_VAL_ACCURACY * 100}% validation accuracy on real CIFAR-10`, { timeout: 15 * 60_000 }, async (t) => {
  const runDir = await mkdtemp(join(tmpdir(), 'learn-'));
  try {
    const result = await runApp(
      'apps/worker/src/train_main.ts',
      [
        ...['--backend', 'onednn', '--width', '0.125', '--epochs', '3', '--batch-size', '32', '--lr', '0.05', '--warmup-epochs', '0'],
        ...['--cutout', '0', '--label-smoothing', '0', '--train-limit', String(TRAIN_IMAGES), '--eval-limit', String(EVAL_IMAGES)],
        ...['--data-dir', CIFAR10_TEST_DIR, '--run-dir', runDir, '--no-progress'],
      ],
      { timeoutMs: 14 * 60_000 },
    );
    assert.equal(result.timedOut, false, 'trainer exceeded its time budget');
    assert.equal(result.code, 0, `trainer failed: ${result.stderr}`);
    const backend = result.logs.find((l) => l['msg'] === 'backend selected');
    assert.equal(backend?.['backend'], 'onednn');
    const lines = (await readFile(join(runDir, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number | string>);
    const epochs = lines.filter((l) => l['kind'] === 'epoch');
    assert.equal(epochs.length, 3);
    const valAccuracy = epochs.map((e) => e['valAccuracy'] as number);
    const trainLoss = epochs.map((e) => e['trainLoss'] as number);
    t.diagnostic(
      `val accuracy ${valAccuracy.map((a) => a.toFixed(3)).join(' → ')}, train loss ${trainLoss.map((l) => l.toFixed(3)).join(' → ')}`,
    );
    assert.ok(trainLoss[2]! < trainLoss[0]!, `train loss should fall: ${trainLoss.join(' → ')}`);
    assert.ok(valAccuracy[2]! >= MIN_VAL_ACCURACY, `validation accuracy ${valAccuracy.join(' → ')} should end >= ${MIN_VAL_ACCURACY}`);
    const testLine = lines.find((l) => l['kind'] === 'test');
    assert.ok(testLine && (testLine['count'] as number) === EVAL_IMAGES);
    assert.ok((await stat(join(runDir, 'chart.png'))).size > 10_000);
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
});
