// SGD with (Nesterov) momentum and L2 weight decay over the flat parameter vector, with the exact
// update rule of torch.optim.SGD (dampening 0):
//   g ← g + wd·w;   v ← μ·v + g;   g ← g + μ·v (Nesterov) or g ← v;   w ← w − lr·g
// It runs in plain JavaScript on Float32Arrays rather than tf ops: after an all-reduce the gradient
// already lives in host memory, the loop is memory-bound (~10 ms for 6 M params), and a plain loop is
// bit-reproducible on every replica whatever its backend, which keeps replicas identical.
import type { ParamLayout } from './param_layout.js';

export interface SgdOptions {
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
}

export class SgdError extends Error {
  readonly code = 'SGD_BAD_ARGUMENT';
  constructor(message: string) {
    super(message);
    this.name = 'SgdError';
  }
}

export class Sgd {
  /** Momentum buffer, [layout.size]. Part of the checkpoint. */
  readonly velocity: Float32Array;
  /** Per-element weight-decay factor: weightDecay for kernels (rank ≥ 2), 0 for biases and BatchNorm. */
  private readonly decayRanges: Array<[number, number]>;

  constructor(
    readonly layout: ParamLayout,
    readonly options: SgdOptions,
  ) {
    if (!(options.momentum >= 0 && options.momentum < 1)) throw new SgdError(`\`momentum\` must be in [0, 1), but got ${options.momentum}`);
    if (!(options.weightDecay >= 0)) throw new SgdError(`\`weightDecay\` must be >= 0, but got ${options.weightDecay}`);
    if (options.nesterov && options.momentum === 0) throw new SgdError('`nesterov` needs `momentum` > 0, but got momentum 0');
    this.velocity = new Float32Array(layout.size);
    this.decayRanges = layout.slots.filter((s) => s.shape.length >= 2).map((s) => [s.offset, s.offset + s.size]);
  }

  /** One update, in place on `weights`. `grads` is the (all-reduced, averaged) gradient; it is overwritten. */
  step(weights: Float32Array, grads: Float32Array, lr: number): void {
    const n = this.layout.size;
    if (weights.length !== n || grads.length !== n) {
      throw new SgdError(`\`weights\` and \`grads\` must both hold ${n} floats, but got ${weights.length} and ${grads.length}`);
    }
    if (!Number.isFinite(lr) || lr < 0) throw new SgdError(`\`lr\` must be a finite number >= 0, but got ${lr}`);
    const { momentum: mu, nesterov, weightDecay: wd } = this.options;
    if (wd > 0) {
      for (const [a, b] of this.decayRanges) for (let i = a; i < b; i++) grads[i]! += wd * weights[i]!;
    }
    const v = this.velocity;
    if (mu === 0) {
      for (let i = 0; i < n; i++) weights[i]! -= lr * grads[i]!;
      return;
    }
    if (nesterov) {
      for (let i = 0; i < n; i++) {
        const grad = grads[i]!;
        const vi = mu * v[i]! + grad;
        v[i] = vi;
        weights[i]! -= lr * (grad + mu * vi);
      }
    } else {
      for (let i = 0; i < n; i++) {
        const vi = mu * v[i]! + grads[i]!;
        v[i] = vi;
        weights[i]! -= lr * vi;
      }
    }
  }
}
