// The lines of metrics.jsonl, built once for both modes: the coordinator (from its workers' reports
// and evaluation sums) and single-process training (from its own) call the same builders, so a
// single-process run and a one-worker distributed run write identical files.
//
// Per-class accuracy of a class with no evaluated image is `null`: JSON cannot hold NaN (it became
// `null` in the file anyway), and 0 would claim a class was always misclassified when it was never
// seen. The record's `perClassCount` is not kept; `count` says how many images were evaluated.
import type { EpochTraining } from './epoch_meter.js';
import type { EpochRecord, TestRecord } from './run_folder.js';

/** Sums over an evaluated split: what the builders need from the worker's or the coordinator's totals. */
export interface EvaluationSums {
  lossSum: number;
  correct: number;
  count: number;
  /** [numClasses] */
  perClassCorrect: ArrayLike<number>;
  /** [numClasses] */
  perClassCount: ArrayLike<number>;
}

/** An epoch's line as both modes write it: the base record plus how it was trained. */
export interface TrainingEpochRecord extends EpochRecord {
  /** Mean over ranks and steps of reduceMs / stepMs (0 on one process: its reduce is the identity). */
  communicationShare: number;
  meanStepMs: EpochTraining['meanStepMs'];
  /** Steps of the epoch whose update was skipped (a non-finite gradient); their images are not in `images` or the train figures. */
  skippedSteps: number;
  /** Ranks of the group that ended the epoch (1 for single-process training). */
  worldSize: number;
  /** Generation of that group (0 for single-process training). */
  generation: number;
}

/** Accuracy per class name, `null` for a class with no evaluated image (see the top of this file). */
export function perClassAccuracy(
  classes: readonly string[],
  sums: Pick<EvaluationSums, 'perClassCorrect' | 'perClassCount'>,
): Record<string, number | null> {
  if (sums.perClassCorrect.length !== classes.length || sums.perClassCount.length !== classes.length) {
    throw new RangeError(
      `per-class sums must hold ${classes.length} classes, but hold ${sums.perClassCorrect.length} correct and ${sums.perClassCount.length} counts`,
    );
  }
  return Object.fromEntries(
    classes.map((name, k) => [name, sums.perClassCount[k]! > 0 ? sums.perClassCorrect[k]! / sums.perClassCount[k]! : null]),
  );
}

/** Epoch `epochIndex` (0-based) of the run: its training figures, the last lr, and the validation sums. */
export function epochRecord(options: {
  epochIndex: number;
  training: EpochTraining;
  lr: number;
  val: EvaluationSums;
  worldSize: number;
  generation: number;
}): TrainingEpochRecord {
  const { training, val } = options;
  return {
    kind: 'epoch',
    epoch: options.epochIndex + 1,
    steps: training.steps,
    skippedSteps: training.skippedSteps,
    images: training.images,
    seconds: training.seconds,
    imagesPerSecond: training.imagesPerSecond,
    lr: options.lr,
    trainLoss: training.trainLoss,
    trainAccuracy: training.trainAccuracy,
    valLoss: val.lossSum / val.count,
    valAccuracy: val.correct / val.count,
    communicationShare: training.communicationShare,
    meanStepMs: training.meanStepMs,
    worldSize: options.worldSize,
    generation: options.generation,
  };
}

/** The run's last line: the test split's sums. */
export function testRecord(classes: readonly string[], sums: EvaluationSums): TestRecord {
  return {
    kind: 'test',
    split: 'test',
    loss: sums.lossSum / sums.count,
    accuracy: sums.correct / sums.count,
    perClassAccuracy: perClassAccuracy(classes, sums),
    count: sums.count,
  };
}

/** The fields of an epoch's record that the 'epoch done' log line carries, in both modes. */
export function epochLogFields(
  record: TrainingEpochRecord,
): Pick<
  TrainingEpochRecord,
  'epoch' | 'trainLoss' | 'trainAccuracy' | 'valLoss' | 'valAccuracy' | 'imagesPerSecond' | 'communicationShare' | 'meanStepMs'
> {
  return {
    epoch: record.epoch,
    trainLoss: record.trainLoss,
    trainAccuracy: record.trainAccuracy,
    valLoss: record.valLoss,
    valAccuracy: record.valAccuracy,
    imagesPerSecond: record.imagesPerSecond,
    communicationShare: record.communicationShare,
    meanStepMs: record.meanStepMs,
  };
}
