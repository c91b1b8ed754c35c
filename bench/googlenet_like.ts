// A GoogLeNet-shaped training step for profiling backends (conv / BatchNorm / ReLU / max-pool /
// concat), built from tfjs-core ops only so it does not wait on @gnet/model. Layer table from
// kuangliu's pytorch-cifar googlenet.py (Szegedy et al. 2014, Table 1, adapted to 32x32 inputs):
// a 3x3 stem to 192 channels instead of the 7x7/stride-2 ImageNet stem, the 5x5 branch as two
// 3x3s, BatchNorm after every conv (batch statistics, no running averages: enough for timing).
import * as tf from '@tensorflow/tfjs-core';

/** in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj (kuangliu's Inception arguments). */
type InceptionRow = readonly [number, number, number, number, number, number, number];

const INCEPTION: readonly InceptionRow[] = [
  [192, 64, 96, 128, 16, 32, 32], // a3
  [256, 128, 128, 192, 32, 96, 64], // b3
  [480, 192, 96, 208, 16, 48, 64], // a4
  [512, 160, 112, 224, 24, 64, 64], // b4
  [512, 128, 128, 256, 24, 64, 64], // c4
  [512, 112, 144, 288, 32, 64, 64], // d4
  [528, 256, 160, 320, 32, 128, 128], // e4
  [832, 256, 160, 320, 32, 128, 128], // a5
  [832, 384, 192, 384, 48, 128, 128], // b5
];

type Layer = (x: tf.Tensor4D) => tf.Tensor4D;

/** A GoogLeNet-like classifier on [batch, 32, 32, 3] inputs with its variables. */
export interface GoogLeNetLike {
  readonly variables: tf.Variable[];
  /** One SGD-free training step: loss and gradients of every variable, all disposed; returns loss. */
  step(x: tf.Tensor4D, labels: tf.Tensor2D): number;
}

/** Builds the stack with channel counts scaled by `width` (1 = the paper's). */
export function buildGoogLeNetLike(width: number, seed = 1): GoogLeNetLike {
  const variables: tf.Variable[] = [];
  let nextSeed = seed;
  const variable = (shape: number[], std: number): tf.Variable => {
    const v = tf.variable(tf.randomNormal(shape, 0, std, 'float32', nextSeed++));
    variables.push(v);
    return v;
  };
  const ch = (n: number): number => Math.max(1, Math.round(n * width));

  const convBnRelu = (cin: number, cout: number, k: number): Layer => {
    const filter = variable([k, k, cin, cout], Math.sqrt(2 / (k * k * cin))) as tf.Variable<tf.Rank.R4>;
    const gamma = variable([cout], 0.1);
    const beta = variable([cout], 0.1);
    return (x) => {
      const y = tf.conv2d(x, filter, 1, 'same');
      const { mean, variance } = tf.moments(y, [0, 1, 2]); // per channel over [N, H, W]
      const normed = tf.mul(tf.sub(y, mean), tf.rsqrt(tf.add(variance, 1e-5)));
      return tf.relu(tf.add(tf.mul(normed, gamma), beta)) as tf.Tensor4D;
    };
  };

  const inception = ([cin, n1, r3, n3, r5, n5, pp]: InceptionRow): Layer => {
    const b1 = convBnRelu(ch(cin), ch(n1), 1);
    const b2a = convBnRelu(ch(cin), ch(r3), 1);
    const b2b = convBnRelu(ch(r3), ch(n3), 3);
    const b3a = convBnRelu(ch(cin), ch(r5), 1);
    const b3b = convBnRelu(ch(r5), ch(n5), 3); // kuangliu: the 5x5 as two 3x3s
    const b3c = convBnRelu(ch(n5), ch(n5), 3);
    const b4 = convBnRelu(ch(cin), ch(pp), 1);
    return (x) => tf.concat([b1(x), b2b(b2a(x)), b3c(b3b(b3a(x))), b4(tf.maxPool(x, 3, 1, 'same'))], 3);
  };

  const stem = convBnRelu(3, ch(192), 3);
  const blocks = INCEPTION.map(inception);
  const fc = variable([ch(1024), 10], 0.01) as tf.Variable<tf.Rank.R2>;
  const forward = (x: tf.Tensor4D): tf.Tensor2D => {
    let h = blocks[1]!(blocks[0]!(stem(x))); // 32x32
    h = tf.maxPool(h, 3, 2, 'same'); // 16x16
    for (let i = 2; i < 7; i++) h = blocks[i]!(h);
    h = tf.maxPool(h, 3, 2, 'same'); // 8x8
    h = blocks[8]!(blocks[7]!(h));
    const pooled = tf.reshape(tf.avgPool(h, 8, 1, 'valid'), [x.shape[0], ch(1024)]);
    return tf.matMul(pooled, fc);
  };

  return {
    variables,
    step(x, labels) {
      const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, forward(x)) as tf.Scalar);
      const loss = value.dataSync()[0]!;
      tf.dispose([value, ...Object.values(grads)]);
      return loss;
    },
  };
}
