// Stratified train/validation split with a fixed seed, the way CIFAR-10 papers hold out 5,000 of the
// 50,000 training images (500 per class) for validation (cf. sklearn's train_test_split(stratify=...)).
import { DataArgumentError } from './errors.js';
import { deriveSeed, Rng } from './rng.js';
import { requireInt } from './validate.js';

/** Indices into the labelled set for each side of the split, both sorted ascending. */
export interface StratifiedSplit {
  train: Int32Array;
  val: Int32Array;
}

/** Tag mixed into the seed so the split's stream differs from every other use of the run seed. */
const SPLIT_STREAM = 0x5b1170;

/**
 * Draws exactly `valPerClass` indices of every class present in `labels` into `val` (uniformly,
 * without replacement), the rest into `train`. The result depends only on (labels, valPerClass, seed).
 *
 * @example
 * stratifiedSplit(train.labels, 500, seed) // CIFAR-10: 45,000 train / 5,000 val, 500 of each class
 * @throws DataArgumentError if `valPerClass` is not a non-negative integer, `seed` not a safe
 *   integer, or some class has fewer than `valPerClass` examples.
 */
export function stratifiedSplit(labels: Uint8Array, valPerClass: number, seed: number): StratifiedSplit {
  requireInt(valPerClass, 'valPerClass', 'stratifiedSplit', 0);
  requireInt(seed, 'seed', 'stratifiedSplit', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'a safe integer');
  // Group indices by class: counting pass, then fill (no per-element allocation).
  const counts = new Int32Array(256);
  for (const l of labels) counts[l]!++;
  const starts = new Int32Array(257);
  for (let c = 0; c < 256; c++) starts[c + 1] = starts[c]! + counts[c]!;
  const byClass = new Int32Array(labels.length);
  const fill = starts.slice(0, 256);
  for (let i = 0; i < labels.length; i++) byClass[fill[labels[i]!]!++] = i;

  const isVal = new Uint8Array(labels.length);
  let numClasses = 0;
  for (let c = 0; c < 256; c++) {
    const n = counts[c]!;
    if (n === 0) continue;
    numClasses++;
    if (n < valPerClass) {
      throw new DataArgumentError(
        'valPerClass',
        `\`valPerClass\` passed to \`stratifiedSplit\` must be at most the size of every class, but got ${valPerClass} and class ${c} has ${n} examples`,
      );
    }
    // Partial Fisher-Yates over this class's slice: its first valPerClass entries become a uniform
    // sample. One stream per class, so classes do not depend on each other's sizes.
    const rng = new Rng(deriveSeed(seed, SPLIT_STREAM, c));
    const base = starts[c]!;
    for (let k = 0; k < valPerClass; k++) {
      const j = k + rng.int(n - k);
      const picked = byClass[base + j]!;
      byClass[base + j] = byClass[base + k]!;
      byClass[base + k] = picked;
      isVal[picked] = 1;
    }
  }
  const val = new Int32Array(numClasses * valPerClass);
  const train = new Int32Array(labels.length - val.length);
  let v = 0;
  let t = 0;
  for (let i = 0; i < labels.length; i++) {
    if (isVal[i]) val[v++] = i;
    else train[t++] = i;
  }
  return { train, val };
}
