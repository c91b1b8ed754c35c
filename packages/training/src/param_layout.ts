// The flat parameter vector: every trainable tensor of the model laid end to end in a fixed order.
// Gradient all-reduce, the optimizer and checkpoints all work on this one Float32Array, the way
// torch DDP flattens parameters into buckets: the order is the model's parameter order, so it is
// identical on every replica without negotiation.
import * as tf from '@tensorflow/tfjs-core';

import type { ParamSlot } from '@gnet/run-store';

export type { ParamSlot };

export interface NamedTensorVariable {
  name: string;
  variable: tf.Variable;
}

export class ParamLayoutError extends Error {
  readonly code = 'PARAM_LAYOUT_MISMATCH';
  constructor(message: string) {
    super(message);
    this.name = 'ParamLayoutError';
  }
}

export class ParamLayout {
  readonly slots: readonly ParamSlot[];
  /** Total element count of the flat vector. */
  readonly size: number;

  constructor(slots: readonly ParamSlot[]) {
    this.slots = slots;
    this.size = slots.reduce((n, s) => n + s.size, 0);
  }

  static of(vars: readonly NamedTensorVariable[]): ParamLayout {
    let offset = 0;
    const seen = new Set<string>();
    const slots = vars.map(({ name, variable }) => {
      if (seen.has(name)) throw new ParamLayoutError(`Parameter name '${name}' appears twice; names must be unique`);
      seen.add(name);
      const slot = { name, shape: [...variable.shape], offset, size: variable.size };
      offset += variable.size;
      return slot;
    });
    return new ParamLayout(slots);
  }

  /** Copies the variables' current values into `out` ([size] float32). */
  read(vars: readonly NamedTensorVariable[], out: Float32Array = new Float32Array(this.size)): Float32Array {
    this.check(vars, out);
    vars.forEach(({ variable }, i) => out.set(variable.dataSync() as Float32Array, this.slots[i]!.offset));
    return out;
  }

  /** Assigns every variable from its slice of `flat`. */
  write(vars: readonly NamedTensorVariable[], flat: Float32Array): void {
    this.check(vars, flat);
    vars.forEach(({ variable }, i) => {
      const s = this.slots[i]!;
      tf.tidy(() => variable.assign(tf.tensor(flat.subarray(s.offset, s.offset + s.size), s.shape, 'float32')));
    });
  }

  private check(vars: readonly NamedTensorVariable[], flat: Float32Array): void {
    if (vars.length !== this.slots.length || flat.length !== this.size) {
      throw new ParamLayoutError(
        `Expected ${this.slots.length} variables and a flat vector of ${this.size} floats, but got ${vars.length} variables and ${flat.length} floats`,
      );
    }
    vars.forEach(({ name, variable }, i) => {
      const s = this.slots[i]!;
      if (s.name !== name || s.size !== variable.size) {
        throw new ParamLayoutError(`Slot ${i} expects '${s.name}' with ${s.size} elements, but got '${name}' with ${variable.size}`);
      }
    });
  }
}
