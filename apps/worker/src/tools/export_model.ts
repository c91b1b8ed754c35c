// `worker:export --format layers`: a restored checkpoint's inference network as a TF.js Layers
// model folder (model.json, weight shards, index.html). Before writing anything the export runs
// the new Layers model and the source model on the same images and refuses to write a model whose
// logits differ beyond float32 tolerance.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { CIFAR10_CLASSES, CIFAR10_IMAGE_BYTES, CIFAR10_MEAN, CIFAR10_SIDE, CIFAR10_STD, Rng } from '@gnet/data';
import type { TrainableModel } from '@gnet/training';
import { browserPageHtml } from './browser_page.js';
import type { CheckpointModel } from './checkpoint_model.js';
import { normaliseRecords } from './image_input.js';
import { buildLayersModel, LAYERS_NAMES, logitsModel } from './layers_graph.js';
import { folderSaveHandler, type WrittenFile } from './layers_files.js';
import { ExportMismatchError } from './tool_errors.js';

/**
 * Largest accepted |logit difference| between the export and its source, relative to the largest
 * |logit| (at least 1). Both run float32 on the same backend; they differ only in rounding: BN
 * folded in float64 here vs float32 in @gnet/model, and the ops' summation orders, compounded over
 * 60 convolutions. Measured differences are around 1e-6 relative (see export_model.test.ts).
 */
export const EXPORT_LOGIT_TOLERANCE = 1e-4;

/** How closely two models' logits agree on the same images. */
export interface LogitComparison {
  readonly images: number;
  readonly maxAbsDiff: number;
  /** max(1, largest |logit| of the expected side): the scale the tolerance is relative to. */
  readonly scale: number;
  /** Images whose argmax agrees. */
  readonly argmaxAgree: number;
}

/** Compares `actual` with `expected`, both `[n, numClasses]` row-major. */
export function compareLogits(expected: Float32Array, actual: Float32Array, numClasses: number): LogitComparison {
  if (expected.length !== actual.length || expected.length % numClasses !== 0) {
    throw new RangeError(
      `\`expected\` and \`actual\` passed to \`compareLogits\` must both hold n * ${numClasses} values, but hold ${expected.length} and ${actual.length}`,
    );
  }
  let maxAbsDiff = 0;
  let scale = 1;
  let argmaxAgree = 0;
  const argmax = (a: Float32Array, row: number): number => {
    let best = 0;
    for (let k = 1; k < numClasses; k++) if (a[row * numClasses + k]! > a[row * numClasses + best]!) best = k;
    return best;
  };
  for (let i = 0; i < expected.length; i++) {
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(expected[i]! - actual[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  const n = expected.length / numClasses;
  for (let row = 0; row < n; row++) if (argmax(expected, row) === argmax(actual, row)) argmaxAgree++;
  return { images: n, maxAbsDiff, scale, argmaxAgree };
}

/** `count` images of seeded random pixels, normalised like training images: the export's self-check input. */
export function randomCheckImages(count: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const records = Array.from({ length: count }, () => Uint8Array.from({ length: CIFAR10_IMAGE_BYTES }, () => rng.int(256)));
  return normaliseRecords(records);
}

/** `[n, numClasses]` logits of the source model and of the Layers model on `images`. */
export function logitsOfBoth(
  source: TrainableModel,
  layers: tfl.LayersModel,
  images: Float32Array,
): { expected: Float32Array; actual: Float32Array } {
  const n = images.length / (CIFAR10_SIDE * CIFAR10_SIDE * 3);
  const logitsOnly = logitsModel(layers);
  return tf.tidy(() => {
    const x = tf.tensor4d(images, [n, CIFAR10_SIDE, CIFAR10_SIDE, 3]);
    const expected = source.forward(x, { training: false }).logits.dataSync() as Float32Array;
    const actual = (logitsOnly.predict(x) as tf.Tensor).dataSync() as Float32Array;
    return { expected, actual };
  });
}

/** What an export wrote and how it checked. */
export interface ExportResult {
  readonly outDir: string;
  readonly files: readonly WrittenFile[];
  /** Layers in the exported model (input layer included). */
  readonly layers: number;
  /** Weights in the exported model (BatchNorm folded away). */
  readonly params: number;
  readonly check: LogitComparison & { readonly tolerance: number };
}

/** What the export records in model.json's `userDefinedMetadata` (read by index.html). */
export function exportMetadata(ckpt: CheckpointModel, source: string): Record<string, object> {
  return {
    classes: [...CIFAR10_CLASSES],
    // input = (pixel / pixelScale - mean[c]) / std[c], NHWC RGB, as @gnet/data's makeBatch.
    input: {
      shape: [CIFAR10_SIDE, CIFAR10_SIDE, 3],
      layout: 'NHWC',
      channels: 'RGB',
      pixelScale: 255,
      mean: [...CIFAR10_MEAN],
      std: [...CIFAR10_STD],
    },
    output: { values: 'softmax probabilities [n, classes]', logitsLayer: LAYERS_NAMES.logits },
    source: { checkpoint: source, writer: ckpt.writer, position: ckpt.position ?? 'unknown', model: { ...ckpt.config } },
  };
}

/**
 * Builds the Layers model of `ckpt`'s inference network, checks it against the source on
 * `checkImages` (`[n, 32, 32, 3]` normalised), then writes model.json, the shards and index.html
 * into `outDir`.
 *
 * @throws ExportMismatchError (before writing anything) when the logits differ beyond
 *   EXPORT_LOGIT_TOLERANCE relative to their scale.
 */
export async function exportLayersModel(
  ckpt: CheckpointModel,
  outDir: string,
  checkImages: Float32Array,
  source: string,
): Promise<ExportResult> {
  const layers = buildLayersModel(ckpt.inference);
  try {
    const { expected, actual } = logitsOfBoth(ckpt.inference, layers, checkImages);
    const check = { ...compareLogits(expected, actual, ckpt.config.numClasses), tolerance: EXPORT_LOGIT_TOLERANCE };
    if (!(check.maxAbsDiff <= EXPORT_LOGIT_TOLERANCE * check.scale)) {
      throw new ExportMismatchError(
        `The Layers model built for ${source} must give the checkpoint's logits within ${EXPORT_LOGIT_TOLERANCE} x ${check.scale.toPrecision(4)}, but differs by up to ${check.maxAbsDiff} on ${check.images} check images`,
      );
    }
    layers.setUserDefinedMetadata(exportMetadata(ckpt, source));
    const files: WrittenFile[] = [];
    await layers.save(folderSaveHandler(outDir, files));
    const page = join(outDir, 'index.html');
    const html = browserPageHtml();
    await writeFile(page, html);
    files.push({ path: page, bytes: Buffer.byteLength(html) });
    return { outDir, files, layers: layers.layers.length, params: layers.countParams(), check };
  } finally {
    layers.dispose();
  }
}
