// Evaluation over real CIFAR-10 test images in chunks equals one evaluateImages call over all of
// them, and the report is consistent (confusion rows, diagonal, accuracy) and printable.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BATCH_IMAGE_FLOATS, CIFAR10_CLASSES, labelsOf, makeBatch, readCifar10, type CifarSet } from '@gnet/data';
import { createGoogLeNet, type GoogLeNet } from '@gnet/model';
import { emptyEvalSums, evaluateImages, selectBackend } from '@gnet/training';
import type { CheckpointModel } from './checkpoint_model.js';
import { evaluateSet, evaluationReport, formatEvaluation } from './evaluate_checkpoint.js';

const DATA_DIR = process.env['CIFAR10_DIR'] || fileURLToPath(new URL('../../../../../shared/data/cifar-10-batches-bin', import.meta.url));
/** More than one 994-image chunk (batch 7), so the chunking is exercised. */
const COUNT = 1200;

describe('evaluateSet', () => {
  let test: CifarSet;
  let model: GoogLeNet;
  before(async () => {
    await selectBackend({ requested: 'wasm', log: { info: () => undefined } });
    test = await readCifar10(DATA_DIR, 'test');
    model = createGoogLeNet({ width: 0.0625, auxHeads: false }, 3);
  });
  after(() => model.dispose());

  it('in chunks gives the sums of one pass over all images; the report agrees with them', () => {
    const sums = evaluateSet(model, test, COUNT, 7);
    const indices = Int32Array.from({ length: COUNT }, (_, i) => i);
    const images = makeBatch(test, indices, new Float32Array(COUNT * BATCH_IMAGE_FLOATS), { augment: null });
    const labels = labelsOf(test, indices, new Int32Array(COUNT));
    const direct = evaluateImages(model, images, labels, COUNT, 7, emptyEvalSums(10));
    assert.deepEqual(sums.confusion, direct.confusion);
    assert.equal(sums.correct, direct.correct);
    assert.ok(Math.abs(sums.lossSum - direct.lossSum) < 1e-3 * direct.lossSum);

    const ckpt = {
      writer: 'coordinator',
      position: { epoch: 3, stepInEpoch: 0, globalStep: 30 },
      config: model.config,
    } as unknown as CheckpointModel;
    const report = evaluationReport('/runs/r/checkpoints/latest.ckpt', ckpt, 'wasm', sums, 2);
    assert.equal(report.images, COUNT);
    assert.equal(
      report.confusion.flat().reduce((a, b) => a + b, 0),
      COUNT,
    );
    assert.deepEqual(
      report.perClass.map((c) => c.count),
      report.confusion.map((row) => row.reduce((a, b) => a + b, 0)),
    );
    assert.deepEqual(
      report.perClass.map((c) => c.correct),
      report.confusion.map((row, t) => row[t]),
    );
    assert.equal(report.accuracy, sums.correct / COUNT);
    assert.deepEqual(report.classes, CIFAR10_CLASSES);

    const text = formatEvaluation(report);
    assert.match(text, /^checkpoint {2}\/runs\/r\/checkpoints\/latest\.ckpt \(coordinator, epoch 3 step 0 \(global step 30\)\)$/m);
    assert.match(text, new RegExp(`^accuracy {4}\\d+\\.\\d\\d% \\(${sums.correct}/${COUNT}\\)$`, 'm'));
    assert.match(text, /^confusion matrix \(rows: true class, columns: predicted class\):$/m);
    const catRow = text.split('\n').findLast((l) => l.startsWith('  cat  '))!; // after the per-class line
    assert.deepEqual(catRow.trim().split(/\s+/).slice(1).map(Number), sums.confusion[3]);
  });

  it('refuses a count outside the set', () => {
    assert.throws(() => evaluateSet(model, test, 0, 10), {
      name: 'RangeError',
      message: '`count` passed to `evaluateSet` must be an integer in [1, 10000], but got 0',
    });
  });
});
