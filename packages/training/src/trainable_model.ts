// What the training loop needs from a model: named trainable variables in a fixed order, named
// non-trainable buffers (BatchNorm running statistics) and a forward pass. @gnet/model's GoogLeNet
// provides it; tests use small models of their own.
import type * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorVariable } from './param_layout.js';

export interface TrainableModel {
  /** Trainable parameters, in an order identical on every replica. */
  readonly params: readonly NamedTensorVariable[];
  /** Non-trainable state (BatchNorm running mean/variance), updated by `forward` in training mode. */
  readonly buffers: readonly NamedTensorVariable[];
  /**
   * @param x [n, 32, 32, 3] NHWC, normalised
   * @returns logits [n, classes] and, in training mode with auxiliary heads, their logits too
   */
  forward(
    x: tf.Tensor4D,
    opts: { training: boolean; seed?: number },
  ): { readonly logits: tf.Tensor2D; readonly auxLogits: readonly tf.Tensor2D[] };
}
