// BatchNorm folded into the convolution before it, for export. At inference BatchNorm is affine
// per output channel o:  y = gamma[o] * (conv(x)[o] - mean[o]) / sqrt(var[o] + eps) + beta[o]
// = conv(x; kernel[..., o] * scale[o])[o] + shift[o]  with  scale = gamma / sqrt(var + eps),
// shift = beta - mean * scale. So conv + BN becomes one conv with a bias (@gnet/model's own
// inference path folds the same way, in float32 tensors; here in float64, rounded once).
import { BN_EPSILON } from '@gnet/model';

/** A conv kernel and bias after folding: `kernel` `[k, k, in, out]`, `bias` `[out]`. */
export interface FoldedConv {
  readonly kernel: Float32Array;
  readonly bias: Float32Array;
}

/** BatchNorm's inference parameters, `[out]` each. */
export interface BatchNormStats {
  readonly gamma: Float32Array;
  readonly beta: Float32Array;
  readonly mean: Float32Array;
  readonly variance: Float32Array;
}

/**
 * Folds `bn` into `kernel` (`[k, k, in, out]` row-major, so output channel = index % out).
 *
 * @throws RangeError when the lengths do not fit one another.
 */
export function foldBatchNorm(kernel: Float32Array, bn: BatchNormStats, epsilon = BN_EPSILON): FoldedConv {
  const out = bn.gamma.length;
  for (const [name, v] of Object.entries(bn) as [string, Float32Array][]) {
    if (v.length !== out)
      throw new RangeError(`\`bn.${name}\` passed to \`foldBatchNorm\` must have ${out} entries like \`bn.gamma\`, but has ${v.length}`);
  }
  if (out === 0 || kernel.length % out !== 0) {
    throw new RangeError(
      `\`kernel\` passed to \`foldBatchNorm\` must hold a multiple of ${out} values (one per output channel), but holds ${kernel.length}`,
    );
  }
  const scale = Float64Array.from(bn.gamma, (gamma, channel) => gamma / Math.sqrt(bn.variance[channel]! + epsilon));
  const bias = Float32Array.from(bn.beta, (beta, channel) => beta - bn.mean[channel]! * scale[channel]!);
  const folded = Float32Array.from(kernel, (weight, i) => weight * scale[i % out]!);
  return { kernel: folded, bias };
}
