// Analytic parameter count of GoogLeNet for a config, from the layer plan (no tensors built).
import { resolveGoogLeNetConfig, type GoogLeNetConfig } from './config.js';
import { planGoogLeNet } from './layer_plan.js';

/** Element counts of a GoogLeNet's variables. */
export interface ParamCount {
  /** Trainable elements, main + aux. */
  readonly total: number;
  /** Trainable elements of the inference network. */
  readonly main: number;
  /** Trainable elements of the auxiliary heads (0 without them). */
  readonly aux: number;
  /** Non-trainable elements (BatchNorm running mean and variance); not in `total`. */
  readonly buffers: number;
}

/**
 * Counts parameters: a k x k conv has k*k*in*out weights plus `out` biases, or with BatchNorm no
 * bias but `out` gammas and `out` betas (and 2*out buffer elements); an FC has in*out + out.
 *
 * @throws ModelConfigError for an invalid config.
 */
export function countParams(config: Partial<GoogLeNetConfig> = {}): ParamCount {
  const cfg = resolveGoogLeNetConfig(config, 'countParams');
  let main = 0;
  let aux = 0;
  let buffers = 0;
  for (const layer of planGoogLeNet(cfg)) {
    const weights = layer.kernelSize * layer.kernelSize * layer.inChannels * layer.outChannels;
    const bn = layer.kind === 'conv' && cfg.batchNorm;
    const extra = bn ? 2 * layer.outChannels : layer.outChannels;
    if (bn) buffers += 2 * layer.outChannels;
    if (layer.aux) aux += weights + extra;
    else main += weights + extra;
  }
  return { total: main + aux, main, aux, buffers };
}
