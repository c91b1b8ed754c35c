// One replica's share of a training step: forward and backward over its local batch, in
// micro-batches, accumulating the gradient into a flat Float32Array laid out by ParamLayout.
// Everything tfjs allocates lives inside tf.tidy, so the tensor count is flat across steps
// (checked by a test over many steps).
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core ships gradients separately from ops (tree-shaking); training needs all of them. They
// are registered through tfjs-layers' Node bundle (CommonJS, into tfjs-core's global registry):
// tfjs-core's own dist/register_all_gradients.js is an ES module with extension-less imports that
// only bundlers and tsx resolve, so the built dist/ (the container images) could not load it.
import '@tensorflow/tfjs-layers';
import { correctCount, crossEntropySum } from './loss.js';
import type { ParamLayout } from './param_layout.js';
import type { TrainableModel } from './trainable_model.js';

export interface LocalBatch {
  /** [count, 32, 32, 3] NHWC normalised. */
  images: Float32Array;
  /** [count] class ids. */
  labels: Int32Array;
  count: number;
}

export interface GradientOptions {
  /** Largest number of images in one forward/backward pass. */
  microBatch: number;
  labelSmoothing: number;
  /** Weight of each auxiliary head's loss (0.3 in the paper). */
  auxWeight: number;
  /** Multiplies the summed loss: 1/globalBatch, so that the sum over workers is the global mean gradient. */
  lossScale: number;
  /** Seed for dropout; each micro-batch derives its own from it. */
  seed: number;
}

/** Sums over the local batch (divide by `count` for means). */
export interface GradientStats {
  /** Σ objective (smoothed main loss + auxWeight·Σ aux losses). */
  objectiveSum: number;
  /** Σ plain cross-entropy of the main head, comparable with validation loss. */
  lossSum: number;
  correct: number;
  count: number;
}

export class GradientError extends Error {
  readonly code = 'GRAD_BAD_BATCH';
  constructor(message: string) {
    super(message);
    this.name = 'GradientError';
  }
}

/**
 * Adds d(lossScale · Σ objective)/dθ over `batch` into `gradsOut` ([layout.size]; zero it first for a
 * fresh step) and returns the batch's loss and accuracy sums.
 */
export function accumulateGradients(
  model: TrainableModel,
  layout: ParamLayout,
  batch: LocalBatch,
  opts: GradientOptions,
  gradsOut: Float32Array,
): GradientStats {
  checkBatch(layout, batch, gradsOut);
  const stats: GradientStats = { objectiveSum: 0, lossSum: 0, correct: 0, count: batch.count };
  for (let start = 0, micro = 0; start < batch.count; start += opts.microBatch, micro++) {
    accumulateMicroBatch(model, layout, batch, opts, gradsOut, start, micro, stats);
  }
  return stats;
}

/**
 * {@link accumulateGradients}, giving the event loop a turn after each micro-batch: a distributed
 * worker's heartbeats and control messages then wait one micro-batch, not a whole step (a
 * width-1 step on wasm takes minutes). Same arithmetic, same result, bit for bit.
 */
export async function accumulateGradientsYielding(
  model: TrainableModel,
  layout: ParamLayout,
  batch: LocalBatch,
  opts: GradientOptions,
  gradsOut: Float32Array,
): Promise<GradientStats> {
  checkBatch(layout, batch, gradsOut);
  const stats: GradientStats = { objectiveSum: 0, lossSum: 0, correct: 0, count: batch.count };
  for (let start = 0, micro = 0; start < batch.count; start += opts.microBatch, micro++) {
    // A timer, not setImmediate: the event loop then passes its timers (heartbeats) and poll (socket
    // reads) phases before the next micro-batch, whichever phase we were called from.
    if (micro > 0) await new Promise<void>((resolve) => setTimeout(resolve, 0));
    accumulateMicroBatch(model, layout, batch, opts, gradsOut, start, micro, stats);
  }
  return stats;
}

function checkBatch(layout: ParamLayout, batch: LocalBatch, gradsOut: Float32Array): void {
  const { count } = batch;
  if (!Number.isInteger(count) || count < 1 || batch.images.length < count * 3072 || batch.labels.length < count) {
    throw new GradientError(
      `Batch must hold count >= 1 images of 32x32x3 and as many labels, but got count ${count}, ${batch.images.length} floats, ${batch.labels.length} labels`,
    );
  }
  if (gradsOut.length !== layout.size) {
    throw new GradientError(`\`gradsOut\` must hold ${layout.size} floats, but got ${gradsOut.length}`);
  }
}

/** Forward/backward over images [start, start + microBatch) of `batch`, adding into `gradsOut` and `stats`. */
function accumulateMicroBatch(
  model: TrainableModel,
  layout: ParamLayout,
  batch: LocalBatch,
  opts: GradientOptions,
  gradsOut: Float32Array,
  start: number,
  micro: number,
  stats: GradientStats,
): void {
  const n = Math.min(opts.microBatch, batch.count - start);
  const vars = model.params.map((p) => p.variable);
  tf.tidy(() => {
    const x = tf.tensor4d(batch.images.subarray(start * 3072, (start + n) * 3072), [n, 32, 32, 3]);
    const y = tf.tensor1d(batch.labels.subarray(start, start + n), 'int32');
    let lossSum: tf.Scalar | undefined;
    let correct: tf.Scalar | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const { logits, auxLogits } = model.forward(x, { training: true, seed: opts.seed * 7919 + micro });
      lossSum = tf.keep(crossEntropySum(logits, y, 0));
      correct = tf.keep(correctCount(logits, y));
      let objective = opts.labelSmoothing > 0 ? crossEntropySum(logits, y, opts.labelSmoothing) : lossSum;
      for (const aux of auxLogits) objective = tf.add(objective, tf.mul(crossEntropySum(aux, y, opts.labelSmoothing), opts.auxWeight));
      return tf.mul(objective, opts.lossScale);
    }, vars);
    layout.slots.forEach((slot, i) => {
      const grad = grads[vars[i]!.name];
      if (!grad) throw new GradientError(`No gradient reached parameter '${slot.name}': is it used by forward()?`);
      const data = grad.dataSync() as Float32Array;
      for (let j = 0, offset = slot.offset; j < slot.size; j++, offset++) gradsOut[offset]! += data[j]!;
    });
    stats.objectiveSum += value.dataSync()[0]! / opts.lossScale;
    stats.lossSum += lossSum!.dataSync()[0]!;
    stats.correct += correct!.dataSync()[0]!;
    tf.dispose([lossSum!, correct!]);
  });
}
