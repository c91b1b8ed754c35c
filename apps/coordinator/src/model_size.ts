// Element counts of GoogLeNet's flat parameter vector and BatchNorm running statistics for a
// `welcome.model`, without building the model: the coordinator needs them to plan the gradient
// buckets it sends in `welcome` and to lay out the star hub, before any worker has a model.
//
// A mirror of packages/model's Table 1 (googlenet_table.ts) and `countParams` (count_params.ts):
// the coordinator may not import @gnet/model, which loads TensorFlow.js (lint forbids it), and the
// protocol sends the buckets before any worker has built its model. Two guards keep the mirror
// honest: every worker refuses a `welcome` whose buckets do not cover its own model exactly, and
// test/src/model_size.test.ts compares `coordinator:serve --print-plan` with `countParams` over
// many configurations.
import type { ModelConfig } from '@gnet/recipe';

/** Table 1 rows (Szegedy et al. 2015): #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj. */
const INCEPTION_ROWS: readonly (readonly [string, number, number, number, number, number, number])[] = [
  ['3a', 64, 96, 128, 16, 32, 32],
  ['3b', 128, 128, 192, 32, 96, 64],
  ['4a', 192, 96, 208, 16, 48, 64],
  ['4b', 160, 112, 224, 24, 64, 64],
  ['4c', 128, 128, 256, 24, 64, 64],
  ['4d', 112, 144, 288, 32, 64, 64],
  ['4e', 256, 160, 320, 32, 128, 128],
  ['5a', 256, 160, 320, 32, 128, 128],
  ['5b', 384, 192, 384, 48, 128, 128],
];
/** CIFAR stem (kuangliu): one 3x3 conv 3 → 192. */
const STEM_CHANNELS = 192;
/** Auxiliary heads after 4a and 4d: 1x1 conv 128, FC 1024 on a 4x4 pooled map, FC classes. */
const AUX_AFTER = ['4a', '4d'];
const AUX_CONV = 128;
const AUX_FC = 1024;
const AUX_POOLED = 4;
const NUM_CLASSES = 10;

/** Element counts of one GoogLeNet. */
export interface ModelSize {
  /** Trainable elements: the flat parameter (and gradient) vector. */
  params: number;
  /** BatchNorm running mean and variance elements (0 without BatchNorm). */
  buffers: number;
}

/** A paper channel count scaled by `width`, never below one (model's `scaleChannels`). */
function scale(channels: number, width: number): number {
  return Math.max(1, Math.round(channels * width));
}

/**
 * Parameter and buffer element counts of GoogLeNet for `model` on CIFAR-10: a k x k conv has
 * k·k·in·out weights plus `out` biases, or with BatchNorm `out` gammas and betas instead of the
 * bias (and 2·out buffer elements); an FC has in·out + out.
 */
export function modelSize(model: Pick<ModelConfig, 'width' | 'auxHeads' | 'batchNorm'>): ModelSize {
  const c = (n: number): number => scale(n, model.width);
  let params = 0;
  let buffers = 0;
  const conv = (k: number, cin: number, cout: number): void => {
    params += k * k * cin * cout + (model.batchNorm ? 2 * cout : cout);
    if (model.batchNorm) buffers += 2 * cout;
  };
  const dense = (cin: number, cout: number): void => {
    params += cin * cout + cout;
  };
  let channels = c(STEM_CHANNELS);
  conv(3, 3, channels);
  for (const [name, b1, b2r, b2, b3r, b3, b4] of INCEPTION_ROWS) {
    conv(1, channels, c(b1));
    conv(1, channels, c(b2r));
    conv(3, c(b2r), c(b2));
    conv(1, channels, c(b3r));
    conv(5, c(b3r), c(b3));
    conv(1, channels, c(b4));
    channels = c(b1) + c(b2) + c(b3) + c(b4);
    if (model.auxHeads && AUX_AFTER.includes(name)) {
      conv(1, channels, c(AUX_CONV));
      dense(AUX_POOLED * AUX_POOLED * c(AUX_CONV), c(AUX_FC));
      dense(c(AUX_FC), NUM_CLASSES);
    }
  }
  dense(channels, NUM_CLASSES);
  return { params, buffers };
}
