// `worker:predict`'s work: prepared images (image_input.ts) through the inference network, softmax,
// and the top-k classes per image, printed one line per image or as one JSON object.
import * as tf from '@tensorflow/tfjs-core';
import { CIFAR10_CLASSES, CIFAR10_SIDE } from '@gnet/data';
import type { TrainableModel } from '@gnet/training';
import { normaliseRecords, type PreparedImage } from './image_input.js';

/** One class of an image's top k. */
export interface ClassProbability {
  readonly label: number;
  readonly name: string;
  readonly probability: number;
}

/** One image's result. */
export interface Prediction {
  readonly file: string;
  readonly format: PreparedImage['format'];
  readonly width: number;
  readonly height: number;
  /** The k most probable classes, most probable first. */
  readonly top: readonly ClassProbability[];
}

/**
 * Runs `model` (inference mode) on `images`, `batchSize` at a time, and keeps each image's `topK`
 * classes by softmax probability.
 */
export function predictImages(model: TrainableModel, images: readonly PreparedImage[], topK: number, batchSize: number): Prediction[] {
  const predictions: Prediction[] = [];
  for (let start = 0; start < images.length; start += batchSize) {
    const batch = images.slice(start, start + batchSize);
    const x = normaliseRecords(batch.map((b) => b.record));
    const [values, indices] = tf.tidy(() => {
      const input = tf.tensor4d(x, [batch.length, CIFAR10_SIDE, CIFAR10_SIDE, 3]);
      const { logits } = model.forward(input, { training: false });
      const k = Math.min(topK, logits.shape[1]);
      const { values: v, indices: i } = tf.topk(tf.softmax(logits), k);
      return [v.arraySync() as number[][], i.arraySync() as number[][]] as const;
    });
    batch.forEach((image, b) => {
      const top = indices[b]!.map((label, j) => ({ label, name: CIFAR10_CLASSES[label] ?? `class ${label}`, probability: values[b]![j]! }));
      predictions.push({ file: image.file, format: image.format, width: image.width, height: image.height, top });
    });
  }
  return predictions;
}

/** `cat.png: cat 81.2%, dog 10.1%, deer 3.0%` */
export function formatPrediction(prediction: Prediction): string {
  return `${prediction.file}: ${prediction.top.map((c) => `${c.name} ${(100 * c.probability).toFixed(1)}%`).join(', ')}`;
}
