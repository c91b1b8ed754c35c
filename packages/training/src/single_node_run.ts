// Single-process training: the development mode, and the loop the distributed worker splits in two.
// One replica trains on the 45,000-image training split (sampled with worldSize 1), evaluates the
// 5,000-image validation split after every epoch and the 10,000-image test split at the end, and
// keeps the run folder (metrics, chart, checkpoints, summary, and the end-of-run report) up to date.
//
// Determinism: the shuffle is a function of (seed, epoch), augmentation and dropout of (seed, epoch,
// step), so a run resumed from a checkpoint (weights, buffers, momentum, position) continues exactly.
import type { Logger } from 'pino';
import {
  CIFAR10_CLASSES,
  DistributedSampler,
  Rng,
  deriveSeed,
  labelsOf,
  makeBatch,
  readCifar10,
  stratifiedSplit,
  type CifarSet,
} from '@gnet/data';
import { CheckpointError, DEFAULT_KEEP_CHECKPOINTS, learningRateAt, RunFolder, type EpochRecord, type TestRecord } from '@gnet/run-store';
import { addEvalSums, emptyEvalSums, evaluateImages, type EvalSums } from './evaluate.js';
import { VAL_PER_CLASS, type HyperParams } from '@gnet/recipe';
import { Replica } from './replica.js';
import type { TrainableModel } from './trainable_model.js';

export interface SingleNodeRunOptions {
  dataDir: string;
  runDir: string;
  hp: HyperParams;
  /** Builds the model from the run seed (GoogLeNet in the app; small models in tests). */
  createModel: (seed: number) => TrainableModel;
  /** Free-form description of the model for config.json and the chart title. */
  modelDescription: Record<string, unknown> & { name: string };
  /** Use only the first N training-split images (quick runs, tests). 0 = all. */
  trainLimit: number;
  /** Use only the first N validation / test images. 0 = all. */
  evalLimit: number;
  evalBatch: number;
  /** Continue from the newest good checkpoint in runDir/checkpoints/ (older ones stand in for a torn or corrupt newest). */
  resume: boolean;
  /** Stop after this many optimizer steps in this process (0 = no limit); a checkpoint is written first. Tests use it to interrupt a run. */
  stopAfterSteps: number;
  /** Write a mid-epoch checkpoint every N steps (0 = only at epoch ends). */
  checkpointEverySteps: number;
  /** Checkpoints kept in runDir/checkpoints/, newest first (default DEFAULT_KEEP_CHECKPOINTS = 3; at least 1). */
  keepCheckpoints?: number;
  log: Logger;
  /** Called after each optimizer step (progress bars). */
  onStep?: (info: { epoch: number; step: number; stepsPerEpoch: number; loss: number; imagesPerSecond: number }) => void;
  /** Asked between steps; true stops the run cleanly after writing a checkpoint (SIGINT). */
  shouldStop?: () => boolean;
  /** `--timeline`: receives each step's phases (data, compute, apply) and each evaluation, in `performance.now()` ms. */
  timeline?: PhaseTimeline | null;
}

/** Where phase timings go (the worker's Chrome-trace Timeline). */
export interface PhaseTimeline {
  span(name: string, cat: string, startMs: number, endMs: number, args?: Record<string, unknown>): void;
}

export interface SingleNodeResult {
  epochs: EpochRecord[];
  test: TestRecord | null;
  stoppedEarly: boolean;
  weights: Float32Array;
}

interface Position {
  epoch: number;
  stepInEpoch: number;
  globalStep: number;
}

/** Copies images (NHWC normalised, no augmentation) and labels for `indices` into fresh arrays. */
function materialise(set: CifarSet, indices: Int32Array): { images: Float32Array; labels: Int32Array } {
  const images = new Float32Array(indices.length * 3072);
  const labels = new Int32Array(indices.length);
  makeBatch(set, indices, images, { augment: null });
  labelsOf(set, indices, labels);
  return { images, labels };
}

function evaluateSet(model: TrainableModel, data: { images: Float32Array; labels: Int32Array }, batch: number): EvalSums {
  return addEvalSums(emptyEvalSums(10), evaluateImages(model, data.images, data.labels, data.labels.length, batch, emptyEvalSums(10)));
}

export async function runSingleNode(o: SingleNodeRunOptions): Promise<SingleNodeResult> {
  const { hp, log } = o;
  const folder = new RunFolder(o.runDir);
  const trainSet = await readCifar10(o.dataDir, 'train');
  const testSet = await readCifar10(o.dataDir, 'test');
  const split = stratifiedSplit(trainSet.labels, VAL_PER_CLASS, hp.seed);
  const trainIdx = o.trainLimit > 0 ? split.train.subarray(0, o.trainLimit) : split.train;
  const valIdx = o.evalLimit > 0 ? split.val.subarray(0, o.evalLimit) : split.val;
  const testCount = o.evalLimit > 0 ? Math.min(o.evalLimit, testSet.count) : testSet.count;
  const testIdx = Int32Array.from({ length: testCount }, (_, i) => i);
  const valData = materialise(trainSet, valIdx);

  const sampler = new DistributedSampler({ datasetSize: trainIdx.length, worldSize: 1, rank: 0, seed: hp.seed, shuffle: true, dropLast: true });
  const stepsPerEpoch = Math.floor(trainIdx.length / hp.globalBatch);
  if (stepsPerEpoch < 1) {
    throw new RangeError(`\`batchSize\` (${hp.globalBatch}) must not exceed the number of training images (${trainIdx.length})`);
  }
  const schedule = { lrPeak: hp.lrPeak, warmupSteps: Math.round(hp.warmupEpochs * stepsPerEpoch), totalSteps: hp.epochs * stepsPerEpoch };

  const model = o.createModel(hp.seed);
  const replica = new Replica(model, { momentum: hp.momentum, nesterov: hp.nesterov, weightDecay: hp.weightDecay });
  let pos: Position = { epoch: 0, stepInEpoch: 0, globalStep: 0 };
  let epochs: EpochRecord[] = [];
  // Partial sums of the epoch in progress, carried through a mid-epoch checkpoint.
  let partial = { objectiveSum: 0, lossSum: 0, correct: 0, count: 0, seconds: 0 };

  const config = { hp, model: o.modelDescription, dataDir: o.dataDir, trainImages: trainIdx.length, valImages: valIdx.length, testImages: testCount, stepsPerEpoch, params: replica.layout.size };
  const store = folder.checkpoints(o.keepCheckpoints ?? DEFAULT_KEEP_CHECKPOINTS);
  if (o.resume) {
    // Each skipped checkpoint is logged (warn) by the store; the 'resumed' line names them again.
    const latest = await store.loadLatestGood(log);
    if (!latest) throw new CheckpointError('CKPT_NOT_FOUND', `Cannot resume: ${store.dir} holds no checkpoint (ckpt-<step>.ckpt)`);
    const { state, path } = latest;
    replica.restore(state, path);
    const meta = state.meta as { position: Position; epochs: EpochRecord[]; partial: typeof partial; hp: HyperParams };
    if (JSON.stringify(meta.hp) !== JSON.stringify(hp)) {
      log.warn({ saved: meta.hp, now: hp }, 'hyperparameters differ from the checkpoint; continuing with the new ones');
    }
    pos = meta.position;
    epochs = meta.epochs;
    partial = meta.partial;
    await folder.rewriteMetrics(epochs);
    log.info({ epoch: pos.epoch, stepInEpoch: pos.stepInEpoch, globalStep: pos.globalStep, checkpoint: path, skipped: latest.skipped.map((x) => x.path) }, 'resumed');
  } else {
    await folder.init(config);
    await folder.rewriteMetrics([]);
  }
  log.info({ ...config, startEpoch: pos.epoch }, 'training starts');

  const checkpoint = async (at: Position) => {
    const saved = await store.save(replica.snapshot({ position: at, epochs, partial, hp, model: o.modelDescription }), at.globalStep);
    log.debug({ path: saved.path, globalStep: saved.globalStep, removed: saved.removed }, 'checkpoint written');
  };

  const microBatch = Math.min(hp.microBatch, hp.globalBatch);
  const images = new Float32Array(hp.globalBatch * 3072);
  const labels = new Int32Array(hp.globalBatch);
  const batchIdx = new Int32Array(hp.globalBatch);
  let stepsThisProcess = 0;
  let stoppedEarly = false;

  outer: for (; pos.epoch < hp.epochs; pos = { epoch: pos.epoch + 1, stepInEpoch: 0, globalStep: pos.globalStep }) {
    const order = sampler.indicesForEpoch(pos.epoch);
    let lr = 0;
    for (; pos.stepInEpoch < stepsPerEpoch; ) {
      if ((o.stopAfterSteps > 0 && stepsThisProcess >= o.stopAfterSteps) || o.shouldStop?.()) {
        await checkpoint(pos);
        log.info({ epoch: pos.epoch, stepInEpoch: pos.stepInEpoch }, 'stopped early; checkpoint written');
        stoppedEarly = true;
        break outer;
      }
      const t0 = performance.now();
      for (let i = 0; i < hp.globalBatch; i++) batchIdx[i] = trainIdx[order[pos.stepInEpoch * hp.globalBatch + i]!]!;
      const rng = new Rng(deriveSeed(hp.seed, 1, pos.epoch, pos.stepInEpoch));
      makeBatch(trainSet, batchIdx, images, { augment: { crop: hp.augmentation.cropPaddingPx, flip: hp.augmentation.flip, cutout: hp.augmentation.cutoutPx }, rng });
      labelsOf(trainSet, batchIdx, labels);
      const t1 = performance.now();
      lr = learningRateAt(pos.globalStep, schedule);
      replica.zeroGrad();
      const stats = replica.accumulate(
        { images, labels, count: hp.globalBatch },
        { microBatch, labelSmoothing: hp.labelSmoothing, auxWeight: hp.auxWeight, lossScale: 1 / hp.globalBatch, seed: deriveSeed(hp.seed, 2, pos.epoch, pos.stepInEpoch) },
      );
      if (!Number.isFinite(stats.objectiveSum)) {
        throw new RangeError(`Loss became ${stats.objectiveSum} at epoch ${pos.epoch} step ${pos.stepInEpoch} (lr ${lr}): lower \`lrPeak\` or check the data`);
      }
      const t2 = performance.now();
      replica.apply(lr);
      const t3 = performance.now();
      if (o.timeline) {
        o.timeline.span('step', 'step', t0, t3, { epoch: pos.epoch, step: pos.stepInEpoch, globalStep: pos.globalStep, loss: stats.lossSum / stats.count, lr });
        o.timeline.span('data', 'step', t0, t1);
        o.timeline.span('compute', 'step', t1, t2);
        o.timeline.span('apply', 'step', t2, t3);
      }
      const seconds = (t3 - t0) / 1000;
      partial.objectiveSum += stats.objectiveSum;
      partial.lossSum += stats.lossSum;
      partial.correct += stats.correct;
      partial.count += stats.count;
      partial.seconds += seconds;
      pos = { ...pos, stepInEpoch: pos.stepInEpoch + 1, globalStep: pos.globalStep + 1 };
      stepsThisProcess++;
      const imagesPerSecond = hp.globalBatch / seconds;
      o.onStep?.({ epoch: pos.epoch, step: pos.stepInEpoch, stepsPerEpoch, loss: stats.lossSum / stats.count, imagesPerSecond });
      log.debug({ epoch: pos.epoch, step: pos.stepInEpoch, loss: stats.lossSum / stats.count, lr, ms: seconds * 1000 }, 'step done');
      // At an epoch's last step the epoch-end checkpoint below (same global step) replaces this one.
      if (o.checkpointEverySteps > 0 && pos.globalStep % o.checkpointEverySteps === 0 && pos.stepInEpoch < stepsPerEpoch) await checkpoint(pos);
    }
    const v0 = performance.now();
    const val = evaluateSet(model, valData, o.evalBatch);
    o.timeline?.span('evaluation', 'eval', v0, performance.now(), { split: 'val', epoch: pos.epoch, images: val.count });
    const record: EpochRecord = {
      kind: 'epoch',
      epoch: pos.epoch + 1,
      steps: stepsPerEpoch,
      images: partial.count,
      seconds: partial.seconds,
      imagesPerSecond: partial.count / partial.seconds,
      lr,
      trainLoss: partial.lossSum / partial.count,
      trainAccuracy: partial.correct / partial.count,
      valLoss: val.lossSum / val.count,
      valAccuracy: val.correct / val.count,
    };
    epochs.push(record);
    partial = { objectiveSum: 0, lossSum: 0, correct: 0, count: 0, seconds: 0 };
    await folder.append(record);
    await folder.writeChart(epochs, `${o.modelDescription.name} on CIFAR-10`);
    // Saved at the start of the next epoch, so a resume begins there.
    await checkpoint({ epoch: pos.epoch + 1, stepInEpoch: 0, globalStep: pos.globalStep });
    log.info({ epoch: record.epoch, trainLoss: record.trainLoss, trainAccuracy: record.trainAccuracy, valLoss: record.valLoss, valAccuracy: record.valAccuracy, imagesPerSecond: record.imagesPerSecond }, 'epoch done');
  }

  let test: TestRecord | null = null;
  if (!stoppedEarly) {
    const e0 = performance.now();
    const sums = evaluateSet(model, materialise(testSet, testIdx), o.evalBatch);
    o.timeline?.span('evaluation', 'eval', e0, performance.now(), { split: 'test', images: sums.count });
    const perClassAccuracy: Record<string, number> = {};
    CIFAR10_CLASSES.forEach((name, k) => (perClassAccuracy[name] = sums.perClassCount[k]! > 0 ? sums.perClassCorrect[k]! / sums.perClassCount[k]! : NaN));
    test = { kind: 'test', split: 'test', loss: sums.lossSum / sums.count, accuracy: sums.correct / sums.count, perClassAccuracy, count: sums.count };
    await folder.append(test);
    await folder.writeSummary({ testAccuracy: test.accuracy, testLoss: test.loss, perClassAccuracy, testImages: test.count, epochs: epochs.length, lastEpoch: epochs.at(-1) ?? null });
    await folder.writeReport({
      title: `${o.modelDescription.name} on CIFAR-10`,
      classes: CIFAR10_CLASSES,
      epochs,
      test,
      confusion: sums.confusion,
      valImages: valIdx.length,
      details: [['mode', 'single process'], ['batch size', hp.globalBatch], ['epochs', hp.epochs], ['lr (peak)', hp.lrPeak], ...(typeof o.modelDescription['backend'] === 'string' ? [['backend', o.modelDescription['backend']] as const] : [])],
    });
    log.info({ testAccuracy: test.accuracy, testLoss: test.loss, testImages: test.count }, 'final test accuracy');
  }
  return { epochs, test, stoppedEarly, weights: Float32Array.from(replica.weights) };
}
