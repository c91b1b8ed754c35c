// Softmax cross-entropy with label smoothing (Szegedy et al. 2016, section 7), summed over the batch.
// Sums rather than means so that gradients from micro-batches and from workers add up exactly to the
// gradient of the global batch once scaled by 1/globalBatch (torch DDP averages the same way).
import * as tf from '@tensorflow/tfjs-core';

/**
 * @param logits [n, numClasses]
 * @param labels [n] int32 class ids
 * @returns scalar: Σ_i −Σ_k target_ik · log softmax(logits)_ik, with target = (1−ε)·onehot + ε/K
 */
export function crossEntropySum(logits: tf.Tensor2D, labels: tf.Tensor1D, labelSmoothing: number): tf.Scalar {
  return tf.tidy((): tf.Scalar => {
    const numClasses = logits.shape[1];
    const logProbs = tf.logSoftmax(logits);
    let target: tf.Tensor = tf.cast(tf.oneHot(labels, numClasses), 'float32');
    if (labelSmoothing > 0) target = tf.add(tf.mul(target, 1 - labelSmoothing), labelSmoothing / numClasses);
    return tf.neg(tf.sum(tf.mul(target, logProbs))) as tf.Scalar;
  });
}

/** Number of rows whose argmax equals the label, as a scalar int32 tensor. */
export function correctCount(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32')) as tf.Scalar);
}
