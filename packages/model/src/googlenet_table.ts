// GoogLeNet as data: Szegedy et al. 2015, "Going deeper with convolutions", Table 1, rows
// inception (3a) to avgpool, with the CIFAR-10 stem of kuangliu/pytorch-cifar `googlenet.py`.
// Channel counts are the paper's (width 1); `scaleChannels` applies the width multiplier.

/** One inception module: the six channel columns of Table 1. */
export interface InceptionRow {
  readonly kind: 'inception';
  /** Table 1's row name, e.g. `4a`; parameters are named `inception_4a/...`. */
  readonly name: string;
  /** #1x1: branch 1, a 1x1 conv. */
  readonly c1x1: number;
  /** #3x3 reduce: branch 2's 1x1 conv in front of its 3x3. */
  readonly c3x3Reduce: number;
  /** #3x3: branch 2's 3x3 conv. */
  readonly c3x3: number;
  /** #5x5 reduce: branch 3's 1x1 conv in front of its 5x5. */
  readonly c5x5Reduce: number;
  /** #5x5: branch 3's 5x5 conv. */
  readonly c5x5: number;
  /** pool proj: branch 4's 1x1 conv after a 3x3/1 max pool. */
  readonly poolProj: number;
}

/** A 3x3 stride-2 max pool between stages: halves height and width. */
export interface MaxPoolRow {
  readonly kind: 'maxpool';
  readonly name: string;
}

export type TableRow = InceptionRow | MaxPoolRow;

const inception = (
  name: string,
  c1x1: number,
  c3x3Reduce: number,
  c3x3: number,
  c5x5Reduce: number,
  c5x5: number,
  poolProj: number,
): InceptionRow => ({ kind: 'inception', name, c1x1, c3x3Reduce, c3x3, c5x5Reduce, c5x5, poolProj });

const maxPool = (name: string): MaxPoolRow => ({ kind: 'maxpool', name });

/** Input of the network: CIFAR-10 images, NHWC `[n, 32, 32, 3]`. */
export const INPUT_SIZE = 32;
export const INPUT_CHANNELS = 3;

/**
 * The stem. Departure from the paper: its stem (7x7/2 conv 64, 3x3/2 max pool, LRN, 1x1 conv 64,
 * 3x3 conv 192, LRN, 3x3/2 max pool) shrinks 224x224 to 28x28; on 32x32 images that would leave
 * 4x4 maps at 3a. As kuangliu does, a single 3x3/1 conv to 192 channels keeps 32x32 at 3a.
 */
export const STEM = { name: 'stem', kernelSize: 3, channels: 192 } as const;

/**
 * Table 1 from inception (3a) to inception (5b), in order. Spatial sizes are for 32x32 inputs
 * (paper, 224x224 inputs: 28, 14, 7).
 */
export const GOOGLENET_TABLE: readonly TableRow[] = Object.freeze([
  //        name  #1x1 #3x3reduce #3x3 #5x5reduce #5x5 pool proj   output (width 1)
  inception('3a', 64, 96, 128, 16, 32, 32), //                    32x32x256
  inception('3b', 128, 128, 192, 32, 96, 64), //                  32x32x480
  maxPool('pool3'), // 3x3/2, 'same' padding: 32x32 -> 16x16       (paper: 28 -> 14)
  inception('4a', 192, 96, 208, 16, 48, 64), //                   16x16x512
  inception('4b', 160, 112, 224, 24, 64, 64), //                  16x16x512
  inception('4c', 128, 128, 256, 24, 64, 64), //                  16x16x512
  inception('4d', 112, 144, 288, 32, 64, 64), //                  16x16x528
  inception('4e', 256, 160, 320, 32, 128, 128), //                16x16x832
  maxPool('pool4'), // 3x3/2, 'same' padding: 16x16 -> 8x8         (paper: 14 -> 7)
  inception('5a', 256, 160, 320, 32, 128, 128), //                8x8x832
  inception('5b', 384, 192, 384, 48, 128, 128), //                8x8x1024
  // then: global average pool (paper: 7x7 avg pool), dropout 0.4, FC numClasses.
]);

/**
 * The auxiliary classifiers (paper section 5): after 4a and 4d, each an average pool 5x5/3,
 * a 1x1 conv with 128 filters + ReLU, an FC 1024 + ReLU, dropout 0.7 and an FC to the classes.
 * On 16x16 maps the pool gives 4x4 (paper: 14x14 -> 4x4), so the FC input is 4*4*128 as in the paper.
 */
export const AUX_HEADS = Object.freeze({
  after: Object.freeze(['4a', '4d']),
  poolSize: 5,
  poolStride: 3,
  convChannels: 128,
  fcUnits: 1024,
  /** Paper: each auxiliary loss is added to the total loss with weight 0.3 (for the trainer). */
  lossWeight: 0.3,
});

/** Spatial side of the maps the auxiliary heads read (after pool3), and of their pooled output. */
export const AUX_INPUT_SIZE = INPUT_SIZE / 2;
export const AUX_POOLED_SIZE = Math.floor((AUX_INPUT_SIZE - AUX_HEADS.poolSize) / AUX_HEADS.poolStride) + 1;
