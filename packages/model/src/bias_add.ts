// Per-channel bias add for NHWC maps with a custom gradient, used when BatchNorm is off.
import * as tf from '@tensorflow/tfjs-core';
import { channelSum } from './channel_sum.js';

/**
 * `x + bias` (`x` `[n, h, w, c]`, `bias` `[c]`). tfjs's Add gradient reduces `dy` for the bias
 * with `tf.sum(dy, [0, 1, 2])`, a transpose on the cpu backend; here `dbias = channelSum(dy)`.
 */
export function biasAdd(x: tf.Tensor4D, bias: tf.Tensor1D): tf.Tensor4D {
  const op = tf.customGrad(() => ({
    value: tf.add(x, bias) as tf.Tensor4D,
    gradFunc: (dy: tf.Tensor4D) => [tf.clone(dy), channelSum(dy)],
  }));
  return tf.tidy('biasAdd', () => op(x, bias));
}
