// Analytic FLOPs of one 32x32 image through GoogLeNet, from the layer plan.
import { resolveGoogLeNetConfig, type GoogLeNetConfig } from './config.js';
import { planGoogLeNet } from './layer_plan.js';

/** FLOPs (2 per multiply-add) of one image. */
export interface FlopCount {
  /** Inference graph forward pass: every conv and FC, no auxiliary heads. */
  readonly forward: number;
  /** Extra forward FLOPs of the auxiliary heads in a training pass (0 without them). */
  readonly auxForward: number;
}

/**
 * Counts 2 FLOPs per multiply-add of every conv (size^2 * k^2 * in * out) and FC (in * out).
 * Bias adds, BatchNorm (folded into the convs at inference), ReLU, pooling and concatenation are
 * left out: together they are under 1% at width 1. A training step costs about 3x
 * (forward + auxForward): the backward pass needs two such products per layer.
 *
 * @throws ModelConfigError for an invalid config.
 */
export function flopsPerImage(config: Partial<GoogLeNetConfig> = {}): FlopCount {
  const cfg = resolveGoogLeNetConfig(config, 'flopsPerImage');
  let forward = 0;
  let auxForward = 0;
  for (const layer of planGoogLeNet(cfg)) {
    const macs = layer.size * layer.size * layer.kernelSize * layer.kernelSize * layer.inChannels * layer.outChannels;
    if (layer.aux) auxForward += 2 * macs;
    else forward += 2 * macs;
  }
  return { forward, auxForward };
}
