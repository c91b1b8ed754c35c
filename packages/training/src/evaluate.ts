// Inference-mode evaluation of one shard: sums (not means) so that shards from several workers add up
// to exact dataset totals, each image counted once. The confusion matrix is a sum too (counts), so
// shards add up to the dataset's matrix the same way.
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropySum } from './loss.js';
import type { TrainableModel } from './trainable_model.js';

export interface EvalSums {
  lossSum: number;
  correct: number;
  count: number;
  /** [numClasses] correct predictions per true class. */
  perClassCorrect: number[];
  /** [numClasses] images per true class. */
  perClassCount: number[];
  /**
   * [numClasses][numClasses] image counts: `confusion[t][p]` images of true class t predicted as
   * p. Row t sums to `perClassCount[t]`, the diagonal is `perClassCorrect`.
   */
  confusion: number[][];
}

export function emptyEvalSums(numClasses: number): EvalSums {
  const zeros = (): number[] => new Array<number>(numClasses).fill(0);
  return {
    lossSum: 0,
    correct: 0,
    count: 0,
    perClassCorrect: zeros(),
    perClassCount: zeros(),
    confusion: Array.from({ length: numClasses }, zeros),
  };
}

/** Adds `b` into `a` (per-class arrays too) and returns `a`. */
export function addEvalSums(a: EvalSums, b: EvalSums): EvalSums {
  a.lossSum += b.lossSum;
  a.correct += b.correct;
  a.count += b.count;
  b.perClassCorrect.forEach((v, k) => (a.perClassCorrect[k]! += v));
  b.perClassCount.forEach((v, k) => (a.perClassCount[k]! += v));
  b.confusion.forEach((row, t) => row.forEach((v, p) => (a.confusion[t]![p]! += v)));
  return a;
}

/**
 * Evaluates `count` images ([count, 32, 32, 3] NHWC normalised) in batches of `batchSize`, adding into `into`.
 */
export function evaluateImages(
  model: TrainableModel,
  images: Float32Array,
  labels: Int32Array,
  count: number,
  batchSize: number,
  into: EvalSums,
): EvalSums {
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    const [lossSum, predicted] = tf.tidy(() => {
      const x = tf.tensor4d(images.subarray(start * 3072, (start + n) * 3072), [n, 32, 32, 3]);
      const y = tf.tensor1d(labels.subarray(start, start + n), 'int32');
      const { logits } = model.forward(x, { training: false });
      return [crossEntropySum(logits, y, 0), tf.argMax(logits, 1)] as const;
    });
    into.lossSum += (lossSum.dataSync() as Float32Array)[0]!;
    const pred = predicted.dataSync() as Int32Array;
    tf.dispose([lossSum, predicted]);
    for (let i = 0; i < n; i++) {
      const label = labels[start + i]!;
      into.perClassCount[label]! += 1;
      into.confusion[label]![pred[i]!]! += 1;
      if (pred[i] === label) {
        into.perClassCorrect[label]! += 1;
        into.correct += 1;
      }
    }
    into.count += n;
  }
  return into;
}
