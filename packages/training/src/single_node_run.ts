// Single-process training: the development mode, and exactly the one-worker case of distributed
// training. One replica trains on the 45,000-image training split, evaluates the 5,000-image
// validation split after every epoch and the 10,000-image test split at the end, and keeps the run
// folder (metrics, chart, checkpoints, summary, and the end-of-run report) up to date.
//
// What it shares with `worker:serve` and the coordinator, so a one-worker group with the same seed
// writes the same metrics and ends with bit-identical weights: the batches and their augmentation
// (GlobalBatches, rank 0 of 1), the dropout seeds (dropoutSeed), the step (StepRunner, with the
// identity as its reduce hook), the non-finite policy (skip, stop after `maxSkippedSteps` in a row),
// the epoch and test records and the checkpoint metadata and resume policy (@gnet/run-store).
//
// Determinism: the shuffle is a function of (seed, epoch), augmentation and dropout of (seed, epoch,
// step), so a run resumed from a checkpoint (weights, buffers, momentum, position) continues exactly.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { CIFAR10_CLASSES, labelsOf, makeBatch, readCifar10, stratifiedSplit, type CifarSet } from '@gnet/data';
import {
  CheckpointError,
  checkResumable,
  DEFAULT_KEEP_CHECKPOINTS,
  EpochMeter,
  epochLogFields,
  epochRecord,
  learningRateAt,
  RunFolder,
  testRecord,
  type EpochRecord,
  type RunCheckpointMeta,
  type RunPosition,
  type TestRecord,
} from '@gnet/run-store';
import { addEvalSums, emptyEvalSums, evaluateImages, type EvalSums } from './evaluate.js';
import { dropoutSeed, GlobalBatches } from './global_batches.js';
import { VAL_PER_CLASS, type HyperParams } from '@gnet/recipe';
import { Replica } from './replica.js';
import { identityReduce, StepRunner } from './step_runner.js';
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
  /**
   * Stop after this many optimizer steps in this process (0 = no limit); a checkpoint is written first. Tests use it to interrupt a run.
   */
  stopAfterSteps: number;
  /** Write a mid-epoch checkpoint every N steps (0 = only at epoch ends). */
  checkpointEverySteps: number;
  /** Checkpoints kept in runDir/checkpoints/, newest first (default DEFAULT_KEEP_CHECKPOINTS = 3; at least 1). */
  keepCheckpoints?: number;
  /**
   * Steps in a row skipped for a non-finite gradient before the run stops with a checkpoint and `TooManySkippedStepsError` (default 5, as
   * the coordinator's `--max-skipped-steps`).
   */
  maxSkippedSteps?: number;
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

type Position = RunPosition;

/** The rank and group single-process training is, in the records it writes. */
const ONE_PROCESS = { rank: 0, worldSize: 1, generation: 0 } as const;

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

export async function runSingleNode(options: SingleNodeRunOptions): Promise<SingleNodeResult> {
  const { hp, log } = options;
  const folder = new RunFolder(options.runDir);
  const trainSet = await readCifar10(options.dataDir, 'train');
  const testSet = await readCifar10(options.dataDir, 'test');
  const split = stratifiedSplit(trainSet.labels, VAL_PER_CLASS, hp.seed);
  const trainIdx = options.trainLimit > 0 ? split.train.subarray(0, options.trainLimit) : split.train;
  const valIdx = options.evalLimit > 0 ? split.val.subarray(0, options.evalLimit) : split.val;
  const testCount = options.evalLimit > 0 ? Math.min(options.evalLimit, testSet.count) : testSet.count;
  const testIdx = Int32Array.from({ length: testCount }, (_, i) => i);
  const valData = materialise(trainSet, valIdx);

  if (hp.globalBatch > trainIdx.length) {
    throw new RangeError(`\`batchSize\` (${hp.globalBatch}) must not exceed the number of training images (${trainIdx.length})`);
  }
  const batches = new GlobalBatches({
    train: trainSet,
    trainIndices: trainIdx,
    globalBatch: hp.globalBatch,
    shuffleSeed: hp.seed,
    augmentSeed: hp.seed,
    augment: hp.augmentation,
  });
  const { stepsPerEpoch } = batches;
  const schedule = { lrPeak: hp.lrPeak, warmupSteps: Math.round(hp.warmupEpochs * stepsPerEpoch), totalSteps: hp.epochs * stepsPerEpoch };

  const model = options.createModel(hp.seed);
  const replica = new Replica(model, { momentum: hp.momentum, nesterov: hp.nesterov, weightDecay: hp.weightDecay });
  const runner = new StepRunner({
    replica,
    microBatch: Math.min(hp.microBatch, hp.globalBatch),
    labelSmoothing: hp.labelSmoothing,
    auxWeight: hp.auxWeight,
    globalBatch: hp.globalBatch,
    reduce: identityReduce,
    yieldBetweenMicroBatches: false,
    ...(options.maxSkippedSteps === undefined ? {} : { maxSkippedSteps: options.maxSkippedSteps }),
  });
  let pos: Position = { epoch: 0, stepInEpoch: 0, globalStep: 0 };
  let epochs: EpochRecord[] = [];
  // The epoch in progress, carried through a mid-epoch checkpoint (the coordinator's meter).
  let meter = new EpochMeter();
  // The model's configuration, without the backend: a run may resume on another one.
  const { backend: _backend, ...modelConfig } = options.modelDescription;
  let runId = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(2).toString('hex')}`;

  const store = folder.checkpoints(options.keepCheckpoints ?? DEFAULT_KEEP_CHECKPOINTS);
  if (options.resume) {
    // Each skipped checkpoint is logged (warn) by the store; the 'resumed' line names them again.
    const latest = await store.loadLatestGood(log);
    if (!latest) throw new CheckpointError('CKPT_NOT_FOUND', `Cannot resume: ${store.dir} holds no checkpoint (ckpt-<step>.ckpt)`);
    const { state, path } = latest;
    // Changed hyperparameters or model: refused, naming the fields (ResumeMismatchError), as the coordinator does.
    const meta = checkResumable(state.meta, { hyper: hp, model: modelConfig }, path);
    replica.restore(state, path);
    runId = meta.runId;
    pos = meta.position;
    epochs = meta.epochs;
    meter = EpochMeter.restore(meta.epochSoFar);
    await folder.rewriteMetrics(epochs);
    log.info(
      {
        epoch: pos.epoch,
        stepInEpoch: pos.stepInEpoch,
        globalStep: pos.globalStep,
        checkpoint: path,
        skipped: latest.skipped.map((x) => x.path),
        runId,
      },
      'resumed',
    );
  }
  const config = {
    hp,
    model: options.modelDescription,
    dataDir: options.dataDir,
    trainImages: trainIdx.length,
    valImages: valIdx.length,
    testImages: testCount,
    stepsPerEpoch,
    params: replica.layout.size,
    runId,
  };
  if (!options.resume) {
    await folder.init(config);
    await folder.rewriteMetrics([]);
  }
  log.info({ ...config, startEpoch: pos.epoch }, 'training starts');

  const checkpoint = async (at: Position) => {
    const meta: RunCheckpointMeta = {
      runId,
      position: at,
      epochs,
      epochSoFar: meter.state(),
      hyper: hp,
      model: modelConfig,
      worldSize: ONE_PROCESS.worldSize,
    };
    const saved = await store.save(replica.snapshot(meta as unknown as Record<string, unknown>), at.globalStep);
    log.debug({ path: saved.path, globalStep: saved.globalStep, removed: saved.removed }, 'checkpoint written');
  };

  const batch = { images: new Float32Array(batches.maxBatch * 3072), labels: new Int32Array(batches.maxBatch), count: 0 };
  const batchIdx = new Int32Array(batches.maxBatch);
  let stepsThisProcess = 0;
  let stoppedEarly = false;

  outer: for (; pos.epoch < hp.epochs; pos = { epoch: pos.epoch + 1, stepInEpoch: 0, globalStep: pos.globalStep }) {
    let lr = 0;
    for (; pos.stepInEpoch < stepsPerEpoch;) {
      if ((options.stopAfterSteps > 0 && stepsThisProcess >= options.stopAfterSteps) || options.shouldStop?.()) {
        await checkpoint(pos);
        log.info({ epoch: pos.epoch, stepInEpoch: pos.stepInEpoch }, 'stopped early; checkpoint written');
        stoppedEarly = true;
        break outer;
      }
      const t0 = performance.now();
      batches.fillBatch(pos.epoch, pos.stepInEpoch, ONE_PROCESS.rank, ONE_PROCESS.worldSize, batch, batchIdx);
      lr = learningRateAt(pos.globalStep, schedule);
      const result = (await runner.run(batch, { lr, seed: dropoutSeed(hp.seed, pos.epoch, pos.stepInEpoch, ONE_PROCESS.rank) }))!;
      const { stats, loss, skipped } = result;
      const { startMs: t1, accumulatedMs: t2, reducedMs: t3, appliedMs: t4 } = result.times;
      if (options.timeline) {
        options.timeline.span('step', 'step', t0, t4, {
          epoch: pos.epoch,
          step: pos.stepInEpoch,
          globalStep: pos.globalStep,
          loss,
          lr,
          skipped,
        });
        options.timeline.span('data', 'step', t0, t1);
        options.timeline.span('compute', 'step', t1, t2);
        options.timeline.span('apply', 'step', t3, t4);
      }
      const seconds = (t4 - t0) / 1000;
      // The report a worker sends in its `metrics`, so the epoch's figures are computed as the coordinator computes them.
      meter.addRound(
        [
          {
            loss,
            correct: stats.correct,
            count: stats.count,
            timings: { dataMs: t1 - t0, computeMs: t2 - t1, reduceMs: t3 - t2, applyMs: t4 - t3, stepMs: t4 - t0 },
          },
        ],
        seconds,
        skipped,
      );
      if (skipped)
        log.warn(
          { epoch: pos.epoch, step: pos.stepInEpoch, globalStep: pos.globalStep, loss, lr, skippedInARow: result.skippedInARow },
          'non-finite gradient: update skipped',
        );
      const done = { epoch: pos.epoch, step: pos.stepInEpoch, globalStep: pos.globalStep };
      pos = { ...pos, stepInEpoch: pos.stepInEpoch + 1, globalStep: pos.globalStep + 1 };
      stepsThisProcess++;
      if (runner.overSkipLimit) {
        // As the coordinator: keep the state (the skipped steps changed nothing), then stop.
        await checkpoint(pos);
        runner.checkSkipLimit(done);
      }
      const imagesPerSecond = hp.globalBatch / seconds;
      options.onStep?.({ epoch: pos.epoch, step: pos.stepInEpoch, stepsPerEpoch, loss, imagesPerSecond });
      log.debug({ epoch: pos.epoch, step: pos.stepInEpoch, loss, lr, ms: seconds * 1000 }, 'step done');
      // At an epoch's last step the epoch-end checkpoint below (same global step) replaces this one.
      if (options.checkpointEverySteps > 0 && pos.globalStep % options.checkpointEverySteps === 0 && pos.stepInEpoch < stepsPerEpoch)
        await checkpoint(pos);
    }
    const v0 = performance.now();
    const val = evaluateSet(model, valData, options.evalBatch);
    options.timeline?.span('evaluation', 'eval', v0, performance.now(), { split: 'val', epoch: pos.epoch, images: val.count });
    const record = epochRecord({
      epochIndex: pos.epoch,
      training: meter.result(),
      lr,
      val,
      worldSize: ONE_PROCESS.worldSize,
      generation: ONE_PROCESS.generation,
    });
    epochs.push(record);
    meter = new EpochMeter();
    await folder.append(record);
    await folder.writeChart(epochs, `${options.modelDescription.name} on CIFAR-10`);
    // Saved at the start of the next epoch, so a resume begins there.
    await checkpoint({ epoch: pos.epoch + 1, stepInEpoch: 0, globalStep: pos.globalStep });
    log.info(epochLogFields(record), 'epoch done');
  }

  let test: TestRecord | null = null;
  if (!stoppedEarly) {
    const e0 = performance.now();
    const sums = evaluateSet(model, materialise(testSet, testIdx), options.evalBatch);
    options.timeline?.span('evaluation', 'eval', e0, performance.now(), { split: 'test', images: sums.count });
    test = testRecord(CIFAR10_CLASSES, sums);
    await folder.append(test);
    await folder.writeSummary({
      testAccuracy: test.accuracy,
      testLoss: test.loss,
      perClassAccuracy: test.perClassAccuracy,
      testImages: test.count,
      epochs: epochs.length,
      lastEpoch: epochs.at(-1) ?? null,
    });
    await folder.writeReport({
      title: `${options.modelDescription.name} on CIFAR-10`,
      classes: CIFAR10_CLASSES,
      epochs,
      test,
      confusion: sums.confusion,
      valImages: valIdx.length,
      details: [
        ['mode', 'single process'],
        ['batch size', hp.globalBatch],
        ['epochs', hp.epochs],
        ['lr (peak)', hp.lrPeak],
        ...(typeof options.modelDescription['backend'] === 'string' ? [['backend', options.modelDescription['backend']] as const] : []),
      ],
    });
    log.info({ testAccuracy: test.accuracy, testLoss: test.loss, testImages: test.count }, 'final test accuracy');
  }
  return { epochs, test, stoppedEarly, weights: Float32Array.from(replica.weights) };
}
