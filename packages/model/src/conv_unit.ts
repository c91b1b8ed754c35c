// One "conv" of Table 1: a stride-1 'same' convolution, then BatchNorm (or a bias when BatchNorm
// is off), then ReLU. The paper's convs have a bias and no normalisation; with BatchNorm the bias
// is dropped because BN's mean subtraction cancels it and beta takes its place.
import * as tf from '@tensorflow/tfjs-core';
import { batchNormTrain, foldBatchNorm, type RunningStats } from './batch_norm.js';
import { biasAdd } from './bias_add.js';
import type { ParamBuilder } from './param_builder.js';

/** The variables of one conv + (BN | bias) + ReLU. */
export interface ConvUnit {
  /** `[k, k, inChannels, outChannels]`. */
  readonly kernel: tf.Variable;
  /** `[outChannels]`, only without BatchNorm. */
  readonly bias?: tf.Variable;
  /** Only with BatchNorm: gamma and beta `[outChannels]` and the running statistics. */
  readonly bn?: { readonly gamma: tf.Variable; readonly beta: tf.Variable; readonly running: RunningStats };
}

/**
 * Declares the variables of a conv unit named `name`: `name/kernel`, then `name/bias` or
 * `name/bn/gamma`, `name/bn/beta` (params) and `name/bn/running_mean`, `name/bn/running_var`
 * (buffers).
 */
export function makeConvUnit(
  params: ParamBuilder,
  name: string,
  kernelSize: number,
  inChannels: number,
  outChannels: number,
  batchNorm: boolean,
): ConvUnit {
  const kernel = params.normal(
    `${name}/kernel`,
    [kernelSize, kernelSize, inChannels, outChannels],
    kernelSize * kernelSize * inChannels,
    2, // He: followed by ReLU
  );
  if (!batchNorm) return { kernel, bias: params.constant(`${name}/bias`, outChannels, 0) };
  const gamma = params.constant(`${name}/bn/gamma`, outChannels, 1);
  const beta = params.constant(`${name}/bn/beta`, outChannels, 0);
  const mean = params.buffer(`${name}/bn/running_mean`, outChannels, 0);
  const variance = params.buffer(`${name}/bn/running_var`, outChannels, 1);
  return { kernel, bn: { gamma, beta, running: { mean, variance } } };
}

/**
 * Applies a conv unit to `x` `[n, h, w, inChannels]`, giving `[n, h, w, outChannels]`.
 *
 * Training: conv2d, then BatchNorm on batch statistics (updating the running statistics) or a
 * bias, then ReLU: plain kernels whose gradients avoid Tile and transposes. Inference: BatchNorm
 * is folded into the kernel and bias from the running statistics, and the whole unit is one
 * fused conv2d + bias + ReLU kernel.
 */
export function applyConvUnit(unit: ConvUnit, x: tf.Tensor4D, training: boolean): tf.Tensor4D {
  return tf.tidy(() => {
    const kernel = unit.kernel as tf.Tensor4D;
    if (!training) {
      let filter = kernel;
      let bias = unit.bias as tf.Tensor1D | undefined;
      if (unit.bn !== undefined) {
        const { gamma, beta, running } = unit.bn;
        const folded = foldBatchNorm(gamma as tf.Tensor1D, beta as tf.Tensor1D, running);
        filter = tf.mul(kernel, folded.scale); // scales output channel o by scale[o]
        bias = folded.shift;
      }
      return tf.fused.conv2d({ x, filter, strides: 1, pad: 'same', bias, activation: 'relu' });
    }
    const y = tf.conv2d(x, kernel, 1, 'same');
    const normalised =
      unit.bn !== undefined
        ? batchNormTrain(y, unit.bn.gamma as tf.Tensor1D, unit.bn.beta as tf.Tensor1D, unit.bn.running)
        : biasAdd(y, unit.bias as tf.Tensor1D);
    return tf.relu(normalised);
  });
}
