// A fully connected layer `x W + b` for the classifiers.
import * as tf from '@tensorflow/tfjs-core';
import type { ParamBuilder } from './param_builder.js';

/** `kernel` `[inUnits, outUnits]`, `bias` `[outUnits]`. */
export interface DenseUnit {
  readonly kernel: tf.Variable;
  readonly bias: tf.Variable;
}

/**
 * Declares `name/kernel` and `name/bias`. `gain` is 2 (He) when a ReLU follows and 1 (LeCun)
 * for a layer producing logits.
 */
export function makeDenseUnit(params: ParamBuilder, name: string, inUnits: number, outUnits: number, gain: number): DenseUnit {
  return {
    kernel: params.normal(`${name}/kernel`, [inUnits, outUnits], inUnits, gain),
    bias: params.constant(`${name}/bias`, outUnits, 0),
  };
}

/** `x` `[n, inUnits]` to `[n, outUnits]`. */
export function applyDenseUnit(unit: DenseUnit, x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.add(tf.matMul(x, unit.kernel as tf.Tensor2D), unit.bias) as tf.Tensor2D);
}
