// `worker:evaluate`'s work: a restored model over the CIFAR-10 test split (or its first `limit`
// images), in inference mode, through @gnet/training's evaluateImages, and the report as text or
// JSON. Images are normalised chunk by chunk so memory stays at one chunk, not 123 MB of floats.
import { BATCH_IMAGE_FLOATS, CIFAR10_CLASSES, labelsOf, makeBatch, type CifarSet } from '@gnet/data';
import { emptyEvalSums, evaluateImages, type EvalSums, type TrainableModel } from '@gnet/training';
import type { CheckpointModel } from './checkpoint_model.js';

/** Images normalised at once (a multiple of the batch size is evaluated from each chunk). */
const CHUNK_IMAGES = 1000;

/** Evaluates `model` on images 0..count-1 of `set`, `batchSize` images per forward pass. */
export function evaluateSet(model: TrainableModel, set: CifarSet, count: number, batchSize: number): EvalSums {
  if (!(Number.isInteger(count) && count >= 1 && count <= set.count)) {
    throw new RangeError(`\`count\` passed to \`evaluateSet\` must be an integer in [1, ${set.count}], but got ${count}`);
  }
  const sums = emptyEvalSums(CIFAR10_CLASSES.length);
  const chunk = Math.max(batchSize, Math.floor(CHUNK_IMAGES / batchSize) * batchSize);
  const images = new Float32Array(Math.min(chunk, count) * BATCH_IMAGE_FLOATS);
  const labels = new Int32Array(Math.min(chunk, count));
  for (let start = 0; start < count; start += chunk) {
    const n = Math.min(chunk, count - start);
    const indices = Int32Array.from({ length: n }, (_, i) => start + i);
    makeBatch(set, indices, images, { augment: null });
    labelsOf(set, indices, labels);
    evaluateImages(model, images, labels, n, batchSize, sums);
  }
  return sums;
}

/** One class's line of the report. */
export interface ClassResult {
  readonly label: number;
  readonly name: string;
  readonly correct: number;
  readonly count: number;
  /** correct / count; null when the class has no image among those evaluated. */
  readonly accuracy: number | null;
}

/** What `worker:evaluate --json` prints. */
export interface EvaluationReport {
  readonly checkpoint: string;
  readonly writer: CheckpointModel['writer'];
  readonly position: CheckpointModel['position'];
  readonly model: CheckpointModel['config'];
  readonly backend: string;
  readonly images: number;
  readonly accuracy: number;
  /** Mean cross-entropy (no label smoothing) per image. */
  readonly loss: number;
  readonly perClass: readonly ClassResult[];
  readonly classes: readonly string[];
  /** `[10][10]`: row = true class, column = predicted class. */
  readonly confusion: readonly (readonly number[])[];
  readonly seconds: number;
}

/** The report of `sums` for the checkpoint `ckpt` read from `checkpoint`. */
export function evaluationReport(
  checkpoint: string,
  ckpt: CheckpointModel,
  backend: string,
  sums: EvalSums,
  seconds: number,
): EvaluationReport {
  return {
    checkpoint,
    writer: ckpt.writer,
    position: ckpt.position,
    model: ckpt.config,
    backend,
    images: sums.count,
    accuracy: sums.correct / sums.count,
    loss: sums.lossSum / sums.count,
    perClass: CIFAR10_CLASSES.map((name, label) => {
      const count = sums.perClassCount[label]!;
      const correct = sums.perClassCorrect[label]!;
      return { label, name, correct, count, accuracy: count > 0 ? correct / count : null };
    }),
    classes: [...CIFAR10_CLASSES],
    confusion: sums.confusion,
    seconds,
  };
}

const pct = (x: number | null): string => (x === null ? '-' : `${(100 * x).toFixed(2)}%`);

/** The human-readable report: summary, per-class accuracy, confusion matrix. */
export function formatEvaluation(report: EvaluationReport): string {
  const lines: string[] = [];
  const at =
    report.position === null
      ? ''
      : `, epoch ${report.position.epoch} step ${report.position.stepInEpoch} (global step ${report.position.globalStep})`;
  lines.push(`checkpoint  ${report.checkpoint} (${report.writer}${at})`);
  lines.push(
    `model       GoogLeNet width ${report.model.width}, ${report.model.batchNorm ? 'BatchNorm' : 'no BatchNorm'}, inference (no aux heads)`,
  );
  lines.push(
    `images      ${report.images} of the test split, backend ${report.backend}, ${report.seconds.toFixed(1)} s (${(report.images / report.seconds).toFixed(1)} img/s)`,
  );
  lines.push(`accuracy    ${pct(report.accuracy)} (${report.perClass.reduce((n, c) => n + c.correct, 0)}/${report.images})`);
  lines.push(`loss        ${report.loss.toFixed(4)} (mean cross-entropy)`);
  lines.push('', 'per-class accuracy:');
  const nameWidth = Math.max(...report.classes.map((c) => c.length));
  for (const c of report.perClass) lines.push(`  ${c.name.padEnd(nameWidth)}  ${pct(c.accuracy).padStart(7)}  (${c.correct}/${c.count})`);
  lines.push('', 'confusion matrix (rows: true class, columns: predicted class):');
  const cell = Math.max(5, ...report.confusion.flat().map((v) => String(v).length)) + 1;
  lines.push(`  ${''.padEnd(nameWidth)} ${report.classes.map((c) => c.slice(0, cell - 1).padStart(cell)).join('')}`);
  report.confusion.forEach((row, t) =>
    lines.push(`  ${report.classes[t]!.padEnd(nameWidth)} ${row.map((v) => String(v).padStart(cell)).join('')}`),
  );
  return lines.join('\n');
}
