// One model replica's training state: the model's tf variables plus the host-side flat vectors that
// the optimizer, the all-reduce and checkpoints work on. A step is
//   zeroGrad() → accumulate(local batch) → [all-reduce `grads` across workers] → apply(lr)
// so the distributed worker inserts its all-reduce between the two halves and single-node training
// simply skips it.
import { assertSlotsMatch, type CheckpointState } from '@gnet/run-store';
import {
  accumulateGradients,
  accumulateGradientsYielding,
  type GradientOptions,
  type GradientStats,
  type LocalBatch,
} from './gradients.js';
import { ParamLayout } from './param_layout.js';
import { Sgd, type SgdOptions } from './sgd.js';
import type { TrainableModel } from './trainable_model.js';

export class Replica {
  readonly layout: ParamLayout;
  readonly bufferLayout: ParamLayout;
  readonly sgd: Sgd;
  /** [layout.size] master copy of the weights; the tf variables mirror it after every apply(). */
  readonly weights: Float32Array;
  /** [layout.size] gradient of the current step (summed over micro-batches, then over workers). */
  readonly grads: Float32Array;

  constructor(
    readonly model: TrainableModel,
    sgdOptions: SgdOptions,
  ) {
    this.layout = ParamLayout.of(model.params);
    this.bufferLayout = ParamLayout.of(model.buffers);
    this.sgd = new Sgd(this.layout, sgdOptions);
    this.weights = this.layout.read(model.params);
    this.grads = new Float32Array(this.layout.size);
  }

  zeroGrad(): void {
    this.grads.fill(0);
  }

  accumulate(batch: LocalBatch, opts: GradientOptions): GradientStats {
    return accumulateGradients(this.model, this.layout, batch, opts, this.grads);
  }

  /** {@link accumulate}, yielding to the event loop between micro-batches (distributed workers: heartbeats). */
  accumulateYielding(batch: LocalBatch, opts: GradientOptions): Promise<GradientStats> {
    return accumulateGradientsYielding(this.model, this.layout, batch, opts, this.grads);
  }

  /** SGD step with the current `grads`, then pushes the new weights into the model. */
  apply(lr: number): void {
    this.sgd.step(this.weights, this.grads, lr);
    this.layout.write(this.model.params, this.weights);
  }

  /** Replaces the weights (e.g. the coordinator's initial broadcast) and pushes them into the model. */
  setWeights(weights: Float32Array): void {
    this.weights.set(weights);
    this.layout.write(this.model.params, this.weights);
  }

  readBuffers(): Float32Array {
    return this.bufferLayout.read(this.model.buffers);
  }

  writeBuffers(values: Float32Array): void {
    this.bufferLayout.write(this.model.buffers, values);
  }

  snapshot(meta: Record<string, unknown>): CheckpointState {
    return {
      meta,
      weightSlots: this.layout.slots,
      bufferSlots: this.bufferLayout.slots,
      weights: Float32Array.from(this.weights),
      buffers: this.readBuffers(),
      velocity: Float32Array.from(this.sgd.velocity),
    };
  }

  restore(state: CheckpointState, source: string): void {
    assertSlotsMatch('weights', this.layout.slots, state.weightSlots, source);
    assertSlotsMatch('buffers', this.bufferLayout.slots, state.bufferSlots, source);
    this.setWeights(state.weights);
    this.writeBuffers(state.buffers);
    this.sgd.velocity.set(state.velocity);
  }
}
