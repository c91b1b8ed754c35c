// An auxiliary classifier (Szegedy et al. 2015, section 5), attached after 4a and 4d and used
// only in training: avg pool 5x5/3, 1x1 conv 128 + ReLU, FC 1024 + ReLU, dropout 0.7, FC classes.
import * as tf from '@tensorflow/tfjs-core';
import { scaleChannels } from './config.js';
import { applyConvUnit, makeConvUnit, type ConvUnit } from './conv_unit.js';
import { applyDenseUnit, makeDenseUnit, type DenseUnit } from './dense_unit.js';
import { AUX_HEADS, AUX_POOLED_SIZE } from './googlenet_table.js';
import type { ParamBuilder } from './param_builder.js';

/** The variables of one auxiliary head. */
export interface AuxHeadUnit {
  /** Name of the inception module it reads, e.g. `4a`. */
  readonly after: string;
  readonly conv: ConvUnit;
  readonly fc: DenseUnit;
  readonly classifier: DenseUnit;
}

/** Declares `aux_<after>/conv1x1`, `aux_<after>/fc` and `aux_<after>/classifier`. */
export function makeAuxHead(
  params: ParamBuilder,
  after: string,
  inChannels: number,
  width: number,
  numClasses: number,
  batchNorm: boolean,
): AuxHeadUnit {
  const name = `aux_${after}`;
  const convChannels = scaleChannels(AUX_HEADS.convChannels, width);
  const fcUnits = scaleChannels(AUX_HEADS.fcUnits, width);
  const flat = AUX_POOLED_SIZE * AUX_POOLED_SIZE * convChannels; // 4*4*128 at width 1, as in the paper
  return {
    after,
    // Departure: BatchNorm after this conv too when `batchNorm` is on (the paper has none).
    conv: makeConvUnit(params, `${name}/conv1x1`, 1, inChannels, convChannels, batchNorm),
    fc: makeDenseUnit(params, `${name}/fc`, flat, fcUnits, 2),
    classifier: makeDenseUnit(params, `${name}/classifier`, fcUnits, numClasses, 1),
  };
}

/**
 * `x` `[n, 16, 16, c]` (the output of 4a or 4d) to logits `[n, numClasses]`. Training only:
 * its conv uses batch statistics.
 *
 * @param dropoutSeed seed for the dropout mask; undefined draws a fresh one.
 */
export function applyAuxHead(unit: AuxHeadUnit, x: tf.Tensor4D, dropout: number, dropoutSeed: string | undefined): tf.Tensor2D {
  return tf.tidy(() => {
    const pooled = tf.avgPool(x, AUX_HEADS.poolSize, AUX_HEADS.poolStride, 'valid'); // [n, 4, 4, c]
    const features = applyConvUnit(unit.conv, pooled, true);
    const flat = tf.reshape(features, [x.shape[0], -1]) as tf.Tensor2D;
    const hidden = tf.relu(applyDenseUnit(unit.fc, flat));
    const dropped = dropout > 0 ? tf.dropout(hidden, dropout, undefined, dropoutSeed) : hidden;
    return applyDenseUnit(unit.classifier, dropped as tf.Tensor2D);
  });
}
