// evaluateImages' sums: a model whose prediction is written into each image (pixel 0 holds the
// class it will predict) gives a known confusion matrix, in any batching, and addEvalSums adds
// shards' matrices to the whole set's.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from './backend/select_backend.js';
import { addEvalSums, emptyEvalSums, evaluateImages } from './evaluate.js';
import type { TrainableModel } from './trainable_model.js';

/** Predicts the class stored in pixel (0, 0) channel 0 of each image: logits 4 * one-hot. */
const oracle: TrainableModel = {
  params: [],
  buffers: [],
  forward(x) {
    const logits = tf.tidy(() => {
      const stored = tf.reshape(tf.slice(x, [0, 0, 0, 0], [-1, 1, 1, 1]), [-1]);
      return tf.mul(tf.oneHot(tf.cast(stored, 'int32'), 10), 4) as tf.Tensor2D;
    });
    return { logits, auxLogits: [] };
  },
};

/** One image per entry of `predicted`, whose pixel 0 stores that entry. */
function images(predicted: readonly number[]): Float32Array {
  const out = new Float32Array(predicted.length * 3072);
  predicted.forEach((p, i) => (out[i * 3072] = p));
  return out;
}

describe('evaluateImages', () => {
  before(async () => {
    await selectBackend({ requested: 'cpu', log: { info: () => undefined } });
  });

  const labels = Int32Array.from([0, 0, 1, 1, 1, 2, 9, 9, 3, 3, 3]);
  const predicted = [0, 1, 1, 1, 2, 2, 9, 0, 3, 3, 5];

  it('counts confusion[true][predicted], consistent with the per-class sums', () => {
    const sums = evaluateImages(oracle, images(predicted), labels, labels.length, 4, emptyEvalSums(10));
    const expected = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
    labels.forEach((t, i) => (expected[t]![predicted[i]!]! += 1));
    assert.deepEqual(sums.confusion, expected);
    assert.equal(sums.correct, 7);
    assert.equal(sums.count, 11);
    assert.deepEqual(
      sums.perClassCorrect,
      sums.confusion.map((row, k) => row[k]),
    );
    assert.deepEqual(
      sums.perClassCount,
      sums.confusion.map((row) => row.reduce((a, b) => a + b, 0)),
    );
  });

  it("shards added with addEvalSums give the whole set's sums", () => {
    const x = images(predicted);
    const whole = evaluateImages(oracle, x, labels, labels.length, 3, emptyEvalSums(10));
    const first = evaluateImages(oracle, x.subarray(0, 5 * 3072), labels.subarray(0, 5), 5, 2, emptyEvalSums(10));
    const second = evaluateImages(oracle, x.subarray(5 * 3072), labels.subarray(5), 6, 6, emptyEvalSums(10));
    const added = addEvalSums(addEvalSums(emptyEvalSums(10), first), second);
    assert.deepEqual(added.confusion, whole.confusion);
    assert.equal(added.correct, whole.correct);
    assert.ok(Math.abs(added.lossSum - whole.lossSum) < 1e-4, `lossSum ${added.lossSum} vs ${whole.lossSum}`);
  });
});
