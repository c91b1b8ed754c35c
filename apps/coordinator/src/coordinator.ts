// The coordinator's run: rendezvous, planning, rounds, sharded evaluation, the run folder. The
// round protocol, coordinator side, in order (handshake details in packages/protocol/README.md):
//
//  1. Listen and accept `hello`s until `--workers` have joined (version and token checked, late or
//     duplicate workers refused with `reject`). Ranks follow join order.
//  2. Plan the run for this group (run_plan.ts): hyperparameters, model, shard plan (the training
//     split's digest, from the CIFAR-10 labels on this machine), gradient buckets, the micro-batch
//     the slowest backend can take, the learning-rate schedule.
//  3. Send each rank its `welcome`, then `initialWeights` with no tensors: every worker initialises
//     GoogLeNet from `hyper.seed` (bit-identical on every backend) and step 4 proves they agree.
//  4. Round 0, the weights check: each worker all-reduces the SHA-256 of its initial weights (star:
//     through our hub) and stops if its peers' differ; then it sends `ready`.
//  5. Each step: broadcast `roundStart` (round, epoch, step, globalStep, lr from the schedule);
//     star: sum the gradients in our hub; wait for every rank's `metrics`, warning about missing
//     ranks every --stall-warn-ms and giving up after --round-timeout-ms.
//  6. After each epoch, evaluation: if weights changed since the last evaluation and the model has
//     BatchNorm, the workers first average their running statistics in one all-reduce round (the
//     next round number; star: our hub), so every replica evaluates, and rank 0 checkpoints, the
//     same model. Then `evalRequest` of the validation split, one contiguous shard per rank (each
//     image counted once); the summed `evalResult`s complete the epoch's line in metrics.jsonl and
//     chart.png. Then `checkpointRequest` to rank 0, whose `stateSnapshot` becomes
//     checkpoints/latest.ckpt.
//  7. After the last epoch: the same evaluation on the test split, summary.json, `leave` (finished)
//     to every worker, and a final log line stating the test accuracy.
//
// Any lost rank, `error` from a worker or timeout ends the run: `roundAbort` (if a round was in
// progress) and `leave` (shutdown) to the others, then the error propagates to main.ts, which
// logs it, naming the rank, and exits non-zero. Re-forming the group is issue 4.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { CIFAR10_CLASSES, indicesDigest, readCifar10, stratifiedSplit } from '@gnet/data';
import type { Bucket, EvalSplit, Metrics, Welcome } from '@gnet/protocol';
import { PeerLostError, StarHub } from '@gnet/collective';
import { learningRateAt, RunFolder, saveCheckpoint, type EpochRecord, type TestRecord } from '@gnet/run-store';
import type { CoordinatorConfig } from './coordinator_config.js';
import { EpochMeter } from './epoch_meter.js';
import { BadReplyError, TrainingDivergedError } from './errors.js';
import { evalRequests, sumEvalResults, type EvalTotals } from './evaluation.js';
import { Rendezvous } from './rendezvous.js';
import { planRun, type RunPlan, type SplitFacts } from './run_plan.js';
import { snapshotToCheckpoint } from './snapshot_checkpoint.js';
import { WorkerGroup } from './worker_group.js';

/** Validation images per class held out of the 50,000 (the single-node trainer's `valPerClass`). */
const VAL_PER_CLASS = 500;
/** Float32 elements of the weights check of round 0: a SHA-256 as sixteen 16-bit halves (exact sums for < 256 ranks). */
export const WEIGHTS_CHECK_ELEMENTS = 16;

/** Options of {@link runCoordinator}. */
export interface CoordinatorRunOptions {
  config: CoordinatorConfig;
  /** Absolute run folder. */
  runDir: string;
  /** Absolute CIFAR-10 folder (already verified). */
  dataDir: string;
  log: Logger;
  /** Called once the server listens, with its URL (single-node mode starts its workers here). */
  onListening?: (url: string) => void;
  /** Rejecting it ends the run (a local worker died). */
  abort?: Promise<never>;
}

/** What a finished run produced. */
export interface CoordinatorResult {
  epochs: EpochRecord[];
  test: TestRecord;
  plan: RunPlan;
}

/** The training split's facts from the labels on this machine (step 2). */
async function readSplitFacts(dataDir: string, seed: number, trainLimit: number): Promise<SplitFacts> {
  const train = await readCifar10(dataDir, 'train');
  const test = await readCifar10(dataDir, 'test');
  const split = stratifiedSplit(train.labels, VAL_PER_CLASS, seed);
  const trainIdx = trainLimit > 0 ? split.train.subarray(0, trainLimit) : split.train;
  return { trainImages: trainIdx.length, trainIndicesDigest: indicesDigest(trainIdx), valAvailable: split.val.length, testAvailable: test.count };
}

/** A StarHub over the group's transport for `elements` float32 values in one bucket. */
function vectorHub(group: WorkerGroup, plan: RunPlan, cfg: CoordinatorConfig, buckets: Bucket[], exact: boolean): StarHub {
  return new StarHub({
    transport: group.transport,
    worldSize: group.worldSize,
    buckets,
    chunkBytes: plan.allReduce.chunkBytes,
    // Weights checks and BatchNorm statistics always travel as float32: they must be exact.
    wireDtype: exact ? 'float32' : plan.allReduce.wireDtype,
    timeoutMs: cfg.roundTimeoutMs,
  });
}

/** Runs the whole training; see the steps at the top of this file. */
export async function runCoordinator(o: CoordinatorRunOptions): Promise<CoordinatorResult> {
  const { config: cfg, log } = o;
  const rendezvous = await Rendezvous.listen({ host: cfg.host, port: cfg.port, token: cfg.token, worldSize: cfg.workers, algorithm: cfg.algorithm, log: log.child({ module: 'rendezvous' }) });
  log.info({ url: rendezvous.url, workers: cfg.workers, algorithm: cfg.algorithm }, 'coordinator listening');
  o.onListening?.(rendezvous.url);
  let group: WorkerGroup | null = null;
  let roundInProgress: number | null = null;
  try {
    // 1-2. Join and plan (reading the labels overlaps the wait for workers).
    const factsPromise = readSplitFacts(o.dataDir, cfg.seed, cfg.trainLimit);
    factsPromise.catch(() => undefined);
    const joined = await rendezvous.join(cfg.joinTimeoutMs, o.abort);
    // Watch the sockets from here on: a worker lost while we plan is still reported.
    const g = new WorkerGroup({ joined, log: log.child({ module: 'group' }), heartbeatMs: cfg.heartbeatMs, stallWarnMs: cfg.stallWarnMs });
    group = g;
    const plan = planRun(
      cfg,
      joined.map((j) => j.hello.backend),
      await Promise.race([factsPromise, g.failed, o.abort ?? factsPromise]),
    );
    const runId = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(2).toString('hex')}`;
    const workers = joined.map((j, rank) => ({ rank, workerId: j.hello.workerId, backend: j.hello.backend, device: j.hello.device }));
    log.info(
      { runId, workers, hyper: plan.hyper, model: plan.model, paramElements: plan.paramElements, bufferElements: plan.bufferElements, buckets: plan.buckets.length, stepsPerEpoch: plan.stepsPerEpoch, globalBatch: plan.globalBatch },
      'group formed',
    );
    const folder = new RunFolder(o.runDir);
    const { token: _token, ...shownConfig } = cfg;
    await folder.init({ config: shownConfig, runId, workers, plan: { ...plan, buckets: plan.buckets.length } });
    await folder.rewriteMetrics([]);

    // 3. welcome + initialWeights.
    const peers = plan.allReduce.algorithm === 'ring' ? joined.map((j, rank) => ({ rank, url: peerUrl(j.hello.peer!) })) : [];
    joined.forEach((_, rank) => {
      const welcome: Welcome = {
        type: 'welcome',
        rank,
        worldSize: plan.worldSize,
        runId,
        generation: 0,
        heartbeatMs: cfg.heartbeatMs,
        hyper: plan.hyper,
        model: plan.model,
        shard: plan.shard,
        buckets: plan.buckets,
        allReduce: plan.allReduce,
        peers,
      };
      g.send(rank, welcome);
      g.send(rank, { type: 'initialWeights', generation: 0, epoch: 0, step: 0, tensors: [], momentum: [] });
    });

    const star = plan.allReduce.algorithm === 'star';
    const gradHub = star ? vectorHub(g, plan, cfg, plan.buckets, false) : null;
    const checkHub = star ? vectorHub(g, plan, cfg, [{ bucket: 0, offset: 0, length: WEIGHTS_CHECK_ELEMENTS }], true) : null;
    const bnHub = star && plan.bufferElements > 0 ? vectorHub(g, plan, cfg, [{ bucket: 0, offset: 0, length: plan.bufferElements }], true) : null;
    const hubRound = (hub: StarHub | null, round: number): Promise<void> => (hub === null ? Promise.resolve() : hub.reduceRound(round));
    /** Waits for a hub round and a collect together, reporting a lost rank as the group's error. */
    const aborted = o.abort ?? new Promise<never>(() => undefined);
    const together = async <T>(hubWork: Promise<void>, collected: Promise<T>): Promise<T> => {
      try {
        const [, value] = await Promise.race([Promise.all([hubWork, collected]), aborted]);
        return value;
      } catch (err) {
        // A dead worker fails the hub with PeerLostError at the same moment its socket closes;
        // the group's error names the rank and phase.
        if (err instanceof PeerLostError && g.failedWith !== null) throw g.failedWith;
        throw err;
      }
    };

    // 4. Round 0: the weights check, then `ready`.
    g.setPhase('round 0 (initial weights check)');
    await together(hubRound(checkHub, 0), g.collect('ready', { timeoutMs: cfg.roundTimeoutMs }));
    log.info({ worldSize: plan.worldSize }, 'all ranks ready: initial weights identical');

    let nextRound = 1;
    let bnDirty = false;
    let evalId = 0;
    const epochs: EpochRecord[] = [];

    /** Step 6/7: BatchNorm averaging if needed, then one sharded evaluation of `split`. */
    const evaluate = async (split: EvalSplit, epoch: number, images: number): Promise<EvalTotals> => {
      let bnWork = Promise.resolve();
      if (bnDirty && plan.bufferElements > 0) {
        const round = nextRound++;
        g.setPhase(`round ${round} (BatchNorm statistics average before ${split} evaluation)`);
        bnWork = hubRound(bnHub, round);
      } else {
        g.setPhase(`${split} evaluation after epoch ${epoch + 1}`);
      }
      bnDirty = false;
      const requests = evalRequests({ evalId: evalId++, epoch, split, images, worldSize: plan.worldSize, batchSize: cfg.evalBatch });
      requests.forEach((request, rank) => g.send(rank, request));
      const results = await together(bnWork, g.collect('evalResult', { timeoutMs: cfg.roundTimeoutMs }));
      return sumEvalResults(requests, results, CIFAR10_CLASSES.length);
    };

    // 5-6. Epochs.
    const logEvery = Math.max(1, Math.floor(plan.stepsPerEpoch / 10));
    for (let epoch = 0; epoch < plan.hyper.epochs; epoch += 1) {
      const meter = new EpochMeter();
      let lr = 0;
      for (let step = 0; step < plan.stepsPerEpoch; step += 1) {
        const round = nextRound++;
        const globalStep = epoch * plan.stepsPerEpoch + step;
        lr = learningRateAt(globalStep, plan.schedule);
        g.setPhase(`round ${round} (epoch ${epoch}, step ${step})`);
        const started = performance.now();
        roundInProgress = round;
        g.broadcast({ type: 'roundStart', round, epoch, step, globalStep, lr });
        const metrics = await together(gradHub === null ? Promise.resolve() : gradHub.reduceRound(round), g.collect('metrics', { timeoutMs: cfg.roundTimeoutMs }));
        roundInProgress = null;
        bnDirty = true;
        checkMetrics(metrics, round, lr);
        const seconds = (performance.now() - started) / 1000;
        meter.addRound(metrics, seconds);
        const loss = metrics.reduce((s, m) => s + m.loss * m.count, 0) / Math.max(1, metrics.reduce((s, m) => s + m.count, 0));
        const fields = { round, epoch, step, globalStep, lr, loss, ms: Math.round(seconds * 1000), reduceMs: metrics.map((m) => Math.round(m.timings.reduceMs)) };
        if ((step + 1) % logEvery === 0) log.info(fields, 'round done');
        else log.debug(fields, 'round done');
      }
      const training = meter.result();
      const val = await evaluate('val', epoch, plan.valImages);
      const record: EpochRecord & { communicationShare: number; meanStepMs: typeof training.meanStepMs } = {
        kind: 'epoch',
        epoch: epoch + 1,
        steps: training.steps,
        images: training.images,
        seconds: training.seconds,
        imagesPerSecond: training.imagesPerSecond,
        lr,
        trainLoss: training.trainLoss,
        trainAccuracy: training.trainAccuracy,
        valLoss: val.lossSum / val.count,
        valAccuracy: val.correct / val.count,
        communicationShare: training.communicationShare,
        meanStepMs: training.meanStepMs,
      };
      epochs.push(record);
      await folder.append(record);
      await folder.writeChart(epochs, `GoogLeNet (width ${plan.model.width}) on CIFAR-10, ${plan.worldSize} workers (${plan.allReduce.algorithm})`);
      log.info(
        { epoch: record.epoch, trainLoss: record.trainLoss, trainAccuracy: record.trainAccuracy, valLoss: record.valLoss, valAccuracy: record.valAccuracy, imagesPerSecond: record.imagesPerSecond, communicationShare: record.communicationShare, meanStepMs: record.meanStepMs },
        'epoch done',
      );
      // Checkpoint from rank 0 (its BatchNorm statistics were just averaged).
      const globalStep = (epoch + 1) * plan.stepsPerEpoch;
      g.setPhase(`checkpoint after epoch ${epoch + 1}`);
      g.send(0, { type: 'checkpointRequest', requestId: epoch, epoch: epoch + 1, step: 0, globalStep, includeMomentum: true });
      const [snapshot] = await together(Promise.resolve(), g.collect('stateSnapshot', { timeoutMs: cfg.roundTimeoutMs, ranks: [0] }));
      const state = snapshotToCheckpoint(snapshot!, plan, { position: { epoch: epoch + 1, stepInEpoch: 0, globalStep }, epochs, hyper: plan.hyper, model: plan.model, worldSize: plan.worldSize, runId });
      await saveCheckpoint(folder.latestCheckpoint, state);
      log.debug({ epoch: epoch + 1, path: folder.latestCheckpoint }, 'checkpoint written');
    }

    // 7. Test, summary, leave.
    const totals = await evaluate('test', plan.hyper.epochs - 1, plan.testImages);
    const perClassAccuracy: Record<string, number> = {};
    CIFAR10_CLASSES.forEach((name, k) => (perClassAccuracy[name] = totals.perClassCount[k]! > 0 ? totals.perClassCorrect[k]! / totals.perClassCount[k]! : NaN));
    const test: TestRecord = { kind: 'test', split: 'test', loss: totals.lossSum / totals.count, accuracy: totals.correct / totals.count, perClassAccuracy, count: totals.count };
    await folder.append(test);
    const last = epochs.at(-1) as (EpochRecord & { communicationShare: number }) | undefined;
    await folder.writeSummary({
      testAccuracy: test.accuracy,
      testLoss: test.loss,
      perClassAccuracy,
      testImages: test.count,
      epochs: epochs.length,
      lastEpoch: last ?? null,
      worldSize: plan.worldSize,
      algorithm: plan.allReduce.algorithm,
      workers,
    });
    await g.close({ type: 'leave', reason: 'finished', message: `test accuracy ${(test.accuracy * 100).toFixed(2)}%` });
    return { epochs, test, plan };
  } catch (err) {
    if (group !== null) {
      const reason = err instanceof Error ? err.message : String(err);
      if (roundInProgress !== null) group.broadcast({ type: 'roundAbort', round: roundInProgress, reason: reason.slice(0, 1024) });
      await group.close({ type: 'leave', reason: 'shutdown', message: reason.slice(0, 4096) }).catch(() => undefined);
    }
    throw err;
  } finally {
    rendezvous.close();
  }
}

/** `ws://host:port` of a worker's peer listener. */
function peerUrl(peer: { host: string; port: number }): string {
  return `ws://${peer.host.includes(':') ? `[${peer.host}]` : peer.host}:${peer.port}`;
}

/** Fails the run on a round's metrics that disagree with it, or on a diverged loss. */
function checkMetrics(metrics: readonly Metrics[], round: number, lr: number): void {
  metrics.forEach((m, rank) => {
    if (m.round !== round) throw new BadReplyError(`metrics from rank ${rank} must be for round ${round}, but are for round ${m.round}`);
    if (!Number.isFinite(m.loss)) {
      throw new TrainingDivergedError(`Loss became ${m.loss} on rank ${rank} at epoch ${m.epoch} step ${m.step} (lr ${lr}): lower --lr or check the data`);
    }
  });
}
