// A small conv net implementing TrainableModel, for fast training-loop tests (GoogLeNet itself is
// tested in @gnet/model and end to end). 4x4 average pool (32→8, keeps the stock cpu backend's slow
// conv gradient cheap), conv 3x3 (3→8) + ReLU, global average pool, dense → 10.
import * as tf from '@tensorflow/tfjs-core';
import type { TrainableModel } from '../trainable_model.js';

export function tinyModel(seed: number): TrainableModel {
  const v = (name: string, t: tf.Tensor) => ({ name, variable: tf.variable(t, true, `${name}_${seed}_${Math.random()}`) });
  const params = [
    v('conv/kernel', tf.randomNormal([3, 3, 3, 8], 0, 0.3, 'float32', seed)),
    v('conv/bias', tf.zeros([8])),
    v('fc/kernel', tf.randomNormal([8, 10], 0, 0.3, 'float32', seed + 1)),
    v('fc/bias', tf.zeros([10])),
  ];
  const mean = { name: 'stat/mean', variable: tf.variable(tf.zeros([8]), false, `stat_${seed}_${Math.random()}`) };
  return {
    params,
    buffers: [mean],
    forward(x, { training }) {
      const small = tf.avgPool(x, 4, 4, 'valid');
      const h = tf.relu(tf.add(tf.conv2d(small, params[0]!.variable as tf.Tensor4D, 1, 'same'), params[1]!.variable));
      const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D;
      if (training) {
        // A running statistic, updated like BatchNorm's, to exercise buffers in checkpoints.
        const m = tf.tidy(() => tf.add(tf.mul(mean.variable, 0.9), tf.mul(tf.mean(pooled, 0), 0.1)));
        mean.variable.assign(m);
        m.dispose();
      }
      return { logits: tf.add(tf.matMul(pooled, params[2]!.variable as tf.Tensor2D), params[3]!.variable), auxLogits: [] };
    },
  };
}
