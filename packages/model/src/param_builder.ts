// Creates the network's variables in a fixed order, each initialised from the run seed and its
// own name, and keeps trainable parameters apart from non-trainable buffers (BatchNorm running
// statistics), like torch's `parameters()` and `buffers()`.
import * as tf from '@tensorflow/tfjs-core';
import { mulberry32, normalArray, seedForName } from './rng.js';

/**
 * A variable with its stable, path-like name (e.g. `inception_4a/b2_3x3/kernel`). The name is
 * ours, not tfjs's: tfjs variable names are global to the engine, so two models in one process
 * (two replicas in a test, a model and its restored copy) would collide.
 */
export interface NamedVariable {
  readonly name: string;
  readonly variable: tf.Variable;
}

/**
 * Appends variables in call order. Weights are He-normal (Kaiming, fan-in): every conv and hidden
 * FC here is followed by a ReLU, and std = sqrt(2 / fanIn) keeps activation variance constant
 * through ReLU layers (He et al. 2015), which matters when `batchNorm` is off; Glorot assumes
 * linear/tanh units and shrinks the signal by ~1/sqrt(2) per ReLU layer. Layers that produce
 * logits use gain 1 (LeCun normal) so the initial logits have unit-order variance.
 */
export class ParamBuilder {
  readonly params: NamedVariable[] = [];
  readonly buffers: NamedVariable[] = [];

  constructor(private readonly seed: number) {}

  /** A trainable weight drawn from N(0, gain / fanIn), seeded by `seed` and `name`. */
  normal(name: string, shape: number[], fanIn: number, gain: number): tf.Variable {
    const count = shape.reduce((a, b) => a * b, 1);
    const values = normalArray(count, Math.sqrt(gain / fanIn), mulberry32(seedForName(this.seed, name)));
    return this.add(this.params, name, tf.tensor(values, shape, 'float32'), true);
  }

  /** A trainable `[size]` vector filled with `value` (biases 0, BatchNorm gamma 1, beta 0). */
  constant(name: string, size: number, value: number): tf.Variable {
    return this.add(this.params, name, tf.fill([size], value, 'float32'), true);
  }

  /** A non-trainable `[size]` buffer filled with `value` (running mean 0, running variance 1). */
  buffer(name: string, size: number, value: number): tf.Variable {
    return this.add(this.buffers, name, tf.fill([size], value, 'float32'), false);
  }

  private add(list: NamedVariable[], name: string, init: tf.Tensor, trainable: boolean): tf.Variable {
    // tf.variable keeps its own reference to the data; the initial tensor can go.
    const variable = tf.variable(init, trainable);
    init.dispose();
    list.push({ name, variable });
    return variable;
  }
}
