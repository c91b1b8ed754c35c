// The coordinator's run: rendezvous, generations, rounds, sharded evaluation, checkpoints, the
// run folder. The round protocol, coordinator side, in order (handshake details in
// packages/protocol/README.md; worker side in apps/worker/src/distributed_worker.ts):
//
//  1. Listen and accept `hello`s (version and secret proof checked; duplicates and workers beyond
//     --max-workers refused with `reject`). With --resume, load the run folder's latest good
//     checkpoint first (a corrupt newest one is skipped with a warning).
//  2. When --workers have joined, form generation 0 (generation.ts): plan the run for them
//     (run_plan.ts), send each rank `welcome` and `initialWeights` (empty on a fresh run: every
//     worker initialises GoogLeNet from `hyper.seed`; else the checkpoint's state), run the
//     weights check (one all-reduce round) and wait for every `ready`.
//  3. Each step: broadcast `roundStart` (round, epoch, step, globalStep, lr from the schedule);
//     star: sum the gradients in our hub; wait for every rank's `metrics`, warning about missing
//     ranks every --stall-warn-ms and giving up after --round-timeout-ms. A step whose reduced
//     gradient was not finite is skipped by every rank alike; --max-skipped-steps in a row stop
//     the run with a checkpoint. Every --checkpoint-every-steps: `checkpointRequest` to rank 0,
//     its `stateSnapshot` becomes checkpoints/ckpt-<step>.ckpt (the newest --keep-checkpoints kept).
//  4. After each epoch: if weights changed and the model has BatchNorm, the workers average their
//     running statistics in one all-reduce round (star: our hub), then `evalRequest` of the
//     validation split, one contiguous shard per rank (each image counted once); the summed
//     `evalResult`s complete the epoch's line in metrics.jsonl and chart.png; then a checkpoint.
//  5. After the last epoch: the same evaluation on the test split, summary.json, `leave`
//     (finished) to every worker, and a final log line stating the test accuracy.
//  6. Faults (recovery.ts): a lost rank (socket closed, `error`/`leave`, silent past
//     --worker-timeout-ms), a `roundFailed` or a timed-out phase breaks the generation. We send
//     `roundAbort`, take the state of one survivor (`checkpointRequest` → `stateSnapshot`, which
//     says which step it trains next), drop the lost and unresponsive ranks, admit waiting
//     workers, and form the next generation from that state (step 2 with generation + 1): the
//     rest of the epoch is re-sharded over the new group by the fixed global batch. Below
//     --min-workers we wait --rejoin-timeout-ms for replacements, then checkpoint and stop.
//     Workers that join mid-run are admitted the same way at the next step boundary.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { listenFailure, readServerTls } from '@gnet/collective';
import { CIFAR10_CLASSES, indicesDigest, readCifar10, stratifiedSplit } from '@gnet/data';
import type { EvalSplit, Metrics, StateSnapshot } from '@gnet/protocol';
import { VAL_PER_CLASS } from '@gnet/recipe';
import {
  checkResumable,
  EpochMeter,
  epochRecord,
  learningRateAt,
  perClassAccuracy,
  ResumeMismatchError,
  RunFolder,
  testRecord,
  type CheckpointStore,
  type EpochRecord,
  type RunCheckpointMeta,
  type TestRecord,
} from '@gnet/run-store';
import { ConfigError, type CoordinatorConfig } from './coordinator_config.js';
import { BadReplyError, isGroupFailure, TrainingDivergedError } from './errors.js';
import { evalRequests, sumEvalResults, type EvalTotals } from './evaluation.js';
import { formGeneration, generationOf, type Generation, type StartState } from './generation.js';
import { GracefulStop, StopRequestedError } from './graceful_stop.js';
import { stopWithCheckpoint } from './stop_checkpoint.js';
import { Recovery } from './recovery.js';
import { RunEvents, type WorkerStep } from './run_events.js';
import { Rendezvous } from './rendezvous.js';
import { RoundIds } from './round_ids.js';
import { checkStepMetrics } from './step_metrics_check.js';
import { planRun, type RunPlan, type SplitFacts } from './run_plan.js';
import { checkpointToStart, snapshotToCheckpoint } from './snapshot_checkpoint.js';
import type { Candidate } from './worker_group.js';

export { WEIGHTS_CHECK_ELEMENTS } from './generation.js';

/** Options of {@link runCoordinator}. */
export interface CoordinatorRunOptions {
  config: CoordinatorConfig;
  /** Absolute run folder. */
  runDir: string;
  /** Absolute CIFAR-10 folder (already verified). */
  dataDir: string;
  /** The process's root logger; the run's modules take children of it. */
  log: Logger;
  /** Called once the server listens, with its URL (single-node mode starts its workers here). */
  onListening?: (url: string) => void;
  /** Rejecting it ends the run at once (a second Ctrl-C, a local worker that died). */
  abort?: Promise<never>;
  /** SIGINT/SIGTERM: finish or abort the step in progress, checkpoint, tell the workers to leave (graceful_stop.ts). */
  stop?: GracefulStop;
  /**
   * Log ~10 `round done` lines per epoch at info (in a pipe they are the progress); false at a
   * terminal, where the progress bar shows the steps and per-step lines would bury it (debug only).
   */
  stepLogs?: boolean;
  /** The live feed (dashboard, /metrics, progress); a private one when not given. */
  events?: RunEvents;
}

/** What a finished run produced. */
export interface CoordinatorResult {
  epochs: EpochRecord[];
  test: TestRecord;
  plan: RunPlan;
  /** Generations formed (1 when nothing failed and nobody joined). */
  generations: number;
}

/** The training split's facts from the labels on this machine. */
async function readSplitFacts(dataDir: string, seed: number, trainLimit: number): Promise<SplitFacts> {
  const train = await readCifar10(dataDir, 'train');
  const test = await readCifar10(dataDir, 'test');
  const split = stratifiedSplit(train.labels, VAL_PER_CLASS, seed);
  const trainIdx = trainLimit > 0 ? split.train.subarray(0, trainLimit) : split.train;
  return {
    trainImages: trainIdx.length,
    trainIndicesDigest: indicesDigest(trainIdx),
    valAvailable: split.val.length,
    testAvailable: test.count,
  };
}

/** The checkpoint metadata this coordinator writes and reads back on --resume (single-process training writes the same). */
type CheckpointMeta = RunCheckpointMeta;

/** Runs the whole training; see the steps at the top of this file. */
export async function runCoordinator(o: CoordinatorRunOptions): Promise<CoordinatorResult> {
  const { config: cfg } = o;
  // Siblings of the process's root logger: a child of a child must not bind `module` twice.
  const log = o.log.child({ module: 'coordinator' });
  const events = o.events ?? new RunEvents();
  const now = (): number => Date.now();
  const hardAbort = o.abort ?? new Promise<never>(() => undefined);
  hardAbort.catch(() => undefined);
  const stop = o.stop ?? new GracefulStop(cfg.stopGraceMs);
  // Waits with work in flight (a step, an evaluation, a weights check) get --stop-grace-ms after a
  // stop request; waits with nothing to finish (for workers, for replacements) end at once.
  const aborted = Promise.race([hardAbort, stop.graceExpired]);
  aborted.catch(() => undefined);
  const abortedNow = Promise.race([hardAbort, stop.requested]);
  abortedNow.catch(() => undefined);
  let generation: Generation | null = null;
  const rendezvous = await Rendezvous.listen({
    host: cfg.host,
    port: cfg.port,
    token: cfg.token,
    tls: cfg.tlsCert === '' ? null : readServerTls(cfg.tlsCert, cfg.tlsKey),
    maxWorkers: cfg.maxWorkers,
    activeWorkerIds: () => generation?.group.members.filter((m) => !generation!.group.lost.has(m.rank)).map((m) => m.hello.workerId) ?? [],
    algorithm: cfg.algorithm,
    log: o.log.child({ module: 'rendezvous' }),
    onJoined: (hello) =>
      events.emit({
        kind: 'membership',
        atMs: now(),
        event: 'joined',
        workerId: hello.workerId,
        rank: null,
        reason: `${hello.backend} on ${hello.device}`,
      }),
  }).catch((err: unknown) => {
    const why = listenFailure(err, '--port', cfg.host, cfg.port);
    throw why === null ? err : new ConfigError(why);
  });
  log.info(
    { url: rendezvous.url, workers: cfg.workers, minWorkers: cfg.minWorkers, maxWorkers: cfg.maxWorkers, algorithm: cfg.algorithm },
    'coordinator listening',
  );
  o.onListening?.(rendezvous.url);
  let roundInProgress: number | null = null;
  /** Set once the run folder is ready: what a stop request saves with. */
  let saving: {
    writeCheckpoint: (snapshot: StateSnapshot, g: Generation, globalStep: number) => Promise<string>;
    store: CheckpointStore;
  } | null = null;
  try {
    // 1. Data facts, the run folder, and the state to start from.
    const facts = await Promise.race([readSplitFacts(o.dataDir, cfg.seed, cfg.trainLimit), abortedNow]);
    const basePlan = planRun(
      cfg,
      Array.from({ length: cfg.workers }, () => cfg.backend),
      facts,
    );
    const spe = basePlan.stepsPerEpoch;
    const totalSteps = basePlan.hyper.epochs * spe;
    const folder = new RunFolder(o.runDir);
    const store: CheckpointStore = folder.checkpoints(cfg.keepCheckpoints);
    let runId = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(2).toString('hex')}`;
    let state: StartState = { globalStep: 0, tensors: [], momentum: [] };
    let epochs: EpochRecord[] = [];
    // The epoch's training figures; kept in checkpoints, so a resumed epoch's record covers all of it.
    let meter = new EpochMeter();
    if (cfg.resume) {
      const loaded = await store.loadLatestGood(log);
      if (loaded === null) throw new ConfigError(`--resume: ${store.dir} holds no checkpoint to resume from; start without --resume`);
      const meta = resumableMeta(loaded.state.meta, basePlan, loaded.path);
      runId = meta.runId;
      epochs = meta.epochs;
      meter = EpochMeter.restore(meta.epochSoFar);
      state = checkpointToStart(loaded.state, meta.position.globalStep);
      log.info(
        {
          checkpoint: loaded.path,
          skipped: loaded.skipped.map((s) => s.path),
          globalStep: state.globalStep,
          epoch: meta.position.epoch,
          runId,
        },
        'resuming from checkpoint',
      );
    } else {
      const { token: _token, ...shownConfig } = cfg;
      await folder.init({ config: shownConfig, runId, plan: { ...basePlan, buckets: basePlan.buckets.length } });
    }
    await folder.rewriteMetrics(epochs);
    const rounds = RoundIds.open(o.runDir, cfg.resume);
    if (rounds.origin === 'legacy')
      log.warn(
        { firstRound: rounds.peek() },
        'the run folder has no rounds.json (written by an older coordinator); round numbers continue from a safe floor',
      );
    {
      const { token: _token, ...shown } = cfg;
      events.emit({
        kind: 'started',
        atMs: now(),
        runId,
        config: shown as Record<string, unknown>,
        stepsPerEpoch: spe,
        totalSteps,
        epochs: basePlan.hyper.epochs,
        resumedAtStep: cfg.resume ? state.globalStep : null,
      });
    }
    const onLost = (rank: number, workerId: string, reason: string): void =>
      events.emit({ kind: 'membership', atMs: now(), event: 'lost', workerId, rank, reason });

    // 2. The first generation.
    let generationNumber = 0;
    /** `snapshot` (the state that trains `globalStep` next) as checkpoints/ckpt-<globalStep>.ckpt; returns its path. */
    const writeCheckpoint = async (snapshot: StateSnapshot, g: Generation, globalStep: number): Promise<string> => {
      const meta: CheckpointMeta = {
        runId,
        position: { epoch: Math.floor(globalStep / spe), stepInEpoch: globalStep % spe, globalStep },
        epochs,
        epochSoFar: meter.state(),
        hyper: g.plan.hyper,
        model: g.plan.model,
        worldSize: g.plan.worldSize,
      };
      const saved = await store.save(snapshotToCheckpoint(snapshot, g.plan, meta as unknown as Record<string, unknown>), globalStep);
      log.info({ globalStep, path: saved.path, removed: saved.removed.length }, 'checkpoint written');
      events.emit({ kind: 'checkpoint', atMs: now(), globalStep, path: saved.path });
      return saved.path;
    };
    saving = { writeCheckpoint, store };
    let members: Candidate[] = await rendezvous.join(cfg.workers, cfg.joinTimeoutMs, abortedNow);
    const recovery = new Recovery({
      cfg,
      log: o.log.child({ module: 'recovery' }),
      rendezvous,
      aborted: abortedNow,
      // Below --min-workers: keep the survivor's state at once, so --resume loses nothing.
      saveBelowMinimum: (snapshot, g) => writeCheckpoint(snapshot, g, snapshot.nextGlobalStep),
    });
    const form = async (): Promise<Generation> => {
      for (let attempt = 0; ; attempt += 1) {
        const checkRound = rounds.next();
        try {
          const g = await formGeneration({
            cfg,
            members,
            generation: generationNumber++,
            runId,
            facts,
            state,
            stepsPerEpoch: spe,
            checkRound,
            log: o.log,
            aborted,
            onLost,
          });
          const workers = g.group.members.map((m) => ({
            rank: m.rank,
            workerId: m.hello.workerId,
            backend: m.hello.backend,
            device: m.hello.device,
          }));
          events.emit({
            kind: 'generation',
            atMs: now(),
            generation: g.group.generation,
            worldSize: g.plan.worldSize,
            globalStep: state.globalStep,
            workers,
            microBatch: g.plan.hyper.microBatch,
          });
          log.info(
            {
              generation: g.group.generation,
              worldSize: g.plan.worldSize,
              workers: g.group.members.map((m) => ({
                rank: m.rank,
                workerId: m.hello.workerId,
                backend: m.hello.backend,
                device: m.hello.device,
              })),
              globalStep: state.globalStep,
              microBatch: g.plan.hyper.microBatch,
              globalBatch: g.plan.globalBatch,
              stepsPerEpoch: spe,
            },
            'group formed',
          );
          return g;
        } catch (err) {
          if (!isGroupFailure(err)) throw err;
          const broken = generationOf(err);
          if (stop.isRequested) throw err;
          const next = await recovery.recover(broken, err, {
            snapshotFrom: 'none',
            state,
            globalStep: state.globalStep,
            lastCheckpoint: () => store.loadLatestGood(log),
          });
          members = next.members;
          if (attempt + 1 >= cfg.maxReforms) throw recovery.noProgress(attempt + 1, err);
        }
      }
    };
    generation = await form();

    let evalId = 0;
    let skippedInARow = 0;
    let reformsWithoutProgress = 0;
    let lastLr = 0;
    let bnDirty = true;
    const saveCheckpoint = async (g: Generation, globalStep: number): Promise<void> => {
      g.group.setPhase(`checkpoint at step ${globalStep}`);
      g.group.send(0, {
        type: 'checkpointRequest',
        requestId: globalStep,
        epoch: Math.floor(globalStep / spe),
        step: globalStep % spe,
        globalStep,
        includeMomentum: true,
      });
      const [snapshot] = await g.together(
        Promise.resolve(),
        g.group.collect('stateSnapshot', { timeoutMs: cfg.roundTimeoutMs, ranks: [0], match: (m) => m.requestId === globalStep }),
      );
      await writeCheckpoint(snapshot!, g, globalStep);
    };

    /** One sharded evaluation of `split` (BatchNorm statistics averaged first if the weights moved). */
    const evaluate = async (g: Generation, split: EvalSplit, epoch: number, images: number): Promise<EvalTotals> => {
      let bnWork = Promise.resolve();
      let averageRound: number | null = null;
      if (bnDirty && g.plan.bufferElements > 0) {
        averageRound = rounds.next();
        g.group.setPhase(`round ${averageRound} (BatchNorm statistics average before ${split} evaluation)`);
        bnWork = g.hubRound('bn', averageRound);
      } else {
        g.group.setPhase(`${split} evaluation after epoch ${epoch + 1}`);
      }
      const id = evalId++;
      const requests = evalRequests({
        evalId: id,
        epoch,
        split,
        images,
        worldSize: g.plan.worldSize,
        batchSize: cfg.evalBatch,
        averageRound,
      });
      requests.forEach((request, rank) => g.group.send(rank, request));
      const results = await g.together(
        bnWork,
        g.group.collect('evalResult', { timeoutMs: cfg.roundTimeoutMs, match: (m) => m.evalId === id }),
      );
      bnDirty = false;
      const totals = sumEvalResults(requests, results, CIFAR10_CLASSES.length);
      events.emit({
        kind: 'evaluation',
        atMs: now(),
        split,
        epoch,
        loss: totals.lossSum / totals.count,
        accuracy: totals.correct / totals.count,
        count: totals.count,
        perClassAccuracy: perClassAccuracy(CIFAR10_CLASSES, totals),
        confusion: totals.confusion,
      });
      return totals;
    };

    const logEvery = Math.max(1, Math.floor(spe / 10));
    let globalStep = state.globalStep;
    for (;;) {
      const g: Generation = generation;
      try {
        // A stop request ends the run here, between steps (see the catch below).
        stop.throwIfRequested();
        const epochsDone = epochs.length;
        if (epochsDone < Math.floor(globalStep / spe)) {
          // 4. The epoch that just ended: validation, its record, a checkpoint.
          const epoch = epochsDone;
          const training = meter.result();
          const val = await evaluate(g, 'val', epoch, g.plan.valImages);
          const record = epochRecord({
            epochIndex: epoch,
            training,
            lr: lastLr,
            val,
            worldSize: g.plan.worldSize,
            generation: g.group.generation,
          });
          epochs = [...epochs, record];
          events.emit({ kind: 'epoch', atMs: now(), record });
          await folder.append(record);
          await folder.writeChart(
            epochs,
            `GoogLeNet (width ${g.plan.model.width}) on CIFAR-10, ${g.plan.worldSize} workers (${g.plan.allReduce.algorithm})`,
          );
          log.info(
            {
              epoch: record.epoch,
              trainLoss: record.trainLoss,
              trainAccuracy: record.trainAccuracy,
              valLoss: record.valLoss,
              valAccuracy: record.valAccuracy,
              imagesPerSecond: record.imagesPerSecond,
              communicationShare: record.communicationShare,
              meanStepMs: record.meanStepMs,
              rssBytes: process.memoryUsage.rss(),
              heapUsedBytes: process.memoryUsage().heapUsed,
            },
            'epoch done',
          );
          meter = new EpochMeter();
          await saveCheckpoint(g, globalStep);
          continue;
        }
        if (globalStep >= totalSteps) break;

        // Workers waiting to join come in at this step boundary.
        if (rendezvous.pendingCount > 0 && g.plan.worldSize < cfg.maxWorkers) {
          log.info(
            { waiting: rendezvous.pendingCount, worldSize: g.plan.worldSize, globalStep },
            'admitting joining workers at a step boundary',
          );
          const next = await recovery.admit(g, globalStep);
          members = next.members;
          state = next.state;
          generation = await form();
          continue;
        }

        // 3. One step.
        const round = rounds.next();
        const epoch = Math.floor(globalStep / spe);
        const step = globalStep % spe;
        const lr = learningRateAt(globalStep, g.plan.schedule);
        g.group.setPhase(`round ${round} (epoch ${epoch}, step ${step})`);
        const started = performance.now();
        roundInProgress = round;
        g.group.broadcast({ type: 'roundStart', round, epoch, step, globalStep, lr });
        const metrics = await g.together(
          g.hubRound('grad', round),
          g.group.collect('metrics', { timeoutMs: cfg.roundTimeoutMs, match: (m) => m.round === round }),
        );
        roundInProgress = null;
        // Metrics that disagree with what the rank was asked (a count of 1.4e17 images): refuse the
        // sender and re-form without it; every rank has applied the step, so nothing is lost.
        const refused = checkStepMetrics(metrics, {
          round,
          epoch,
          step,
          worldSize: g.plan.worldSize,
          globalBatch: g.plan.globalBatch,
          roundMs: performance.now() - started,
        });
        for (const { rank, error } of refused) g.group.refuse(rank, error);
        if (refused.length > 0) throw g.group.failedWith!;
        reformsWithoutProgress = 0;
        const skipped = checkMetrics(metrics, round);
        skippedInARow = skipped ? skippedInARow + 1 : 0;
        if (!skipped) bnDirty = true;
        lastLr = lr;
        const seconds = (performance.now() - started) / 1000;
        meter.addRound(metrics, seconds);
        globalStep += 1;
        const images = metrics.reduce((s, m) => s + m.count, 0);
        const loss = metrics.reduce((s, m) => s + m.loss * m.count, 0) / Math.max(1, images);
        const workers: WorkerStep[] = metrics.map((m, rank) => ({
          rank,
          workerId: g.group.members[rank]!.hello.workerId,
          loss: m.loss,
          count: m.count,
          correct: m.correct,
          timings: m.timings,
          waitMs: Math.max(0, seconds * 1000 - m.timings.stepMs),
          memory: m.memory,
        }));
        events.emit({
          kind: 'step',
          atMs: now(),
          globalStep: globalStep - 1,
          epoch,
          step,
          lr,
          loss,
          accuracy: metrics.reduce((s, m) => s + m.correct, 0) / Math.max(1, images),
          images,
          seconds,
          imagesPerSecond: images / Math.max(1e-9, seconds),
          skipped,
          generation: g.group.generation,
          workers,
        });
        const fields = {
          round,
          epoch,
          step,
          globalStep: globalStep - 1,
          lr,
          loss,
          skipped,
          ms: Math.round(seconds * 1000),
          reduceMs: metrics.map((m) => Math.round(m.timings.reduceMs)),
        };
        if (skipped) log.warn(fields, 'round done');
        else if ((o.stepLogs ?? true) && (step + 1) % logEvery === 0) log.info(fields, 'round done');
        else log.debug(fields, 'round done');
        if (skippedInARow >= cfg.maxSkippedSteps) {
          await saveCheckpoint(g, globalStep);
          // Divergence shows on every rank; a non-finite loss on some ranks only points at those workers.
          const suspects = metrics.flatMap((m, rank) =>
            Number.isFinite(m.loss) ? [] : [`rank ${rank} (worker '${g.group.members[rank]!.hello.workerId}')`],
          );
          const advice =
            suspects.length > 0 && suspects.length < metrics.length
              ? `only ${suspects.join(', ')} computed a non-finite loss while the others' stayed finite: suspect that worker (its backend, hardware or data) before the learning rate; replace it and resume with --resume`
              : 'lower --lr and resume with --resume';
          throw new TrainingDivergedError(
            `${skippedInARow} steps in a row (up to global step ${globalStep - 1}) had a NaN or infinite gradient and were skipped (limit --max-skipped-steps ${cfg.maxSkippedSteps}); a checkpoint was saved: ${advice}`,
          );
        }
        if (cfg.checkpointEverySteps > 0 && globalStep % cfg.checkpointEverySteps === 0 && globalStep % spe !== 0)
          await saveCheckpoint(g, globalStep);
      } catch (err) {
        // Workers leaving while we stop (Slurm and Kubernetes signal every task at once): stop, don't re-form.
        if (!isGroupFailure(err) || stop.isRequested) throw err;
        // 6. Re-form the group from a survivor's state.
        reformsWithoutProgress += 1;
        if (reformsWithoutProgress > cfg.maxReforms) throw recovery.noProgress(reformsWithoutProgress - 1, err);
        const next = await recovery.recover(g, err, {
          snapshotFrom: 'survivor',
          state,
          globalStep,
          roundInProgress,
          lastCheckpoint: () => store.loadLatestGood(log),
        });
        roundInProgress = null;
        members = next.members;
        state = next.state;
        if (state.globalStep < globalStep && next.rolledBackTo !== null) {
          // No survivor: back to the last checkpoint, its epoch records included.
          epochs = next.rolledBackTo.epochs;
          await folder.rewriteMetrics(epochs);
          meter = EpochMeter.restore(next.rolledBackTo.epochSoFar);
        }
        globalStep = state.globalStep;
        bnDirty = true;
        generation = await form();
      }
    }

    // 5. Test, summary, leave.
    const g: Generation = generation;
    const totals = await evaluate(g, 'test', basePlan.hyper.epochs - 1, g.plan.testImages);
    const test: TestRecord = testRecord(CIFAR10_CLASSES, totals);
    await folder.append(test);
    events.emit({ kind: 'finished', atMs: now(), test });
    const last = epochs.at(-1) as (EpochRecord & { communicationShare: number }) | undefined;
    await folder.writeSummary({
      testAccuracy: test.accuracy,
      testLoss: test.loss,
      perClassAccuracy: test.perClassAccuracy,
      testImages: test.count,
      epochs: epochs.length,
      lastEpoch: last ?? null,
      worldSize: g.plan.worldSize,
      generations: generationNumber,
      algorithm: g.plan.allReduce.algorithm,
      workers: g.group.members.map((m) => ({ rank: m.rank, workerId: m.hello.workerId, backend: m.hello.backend, device: m.hello.device })),
    });
    await g.group.close({ type: 'leave', reason: 'finished', message: `test accuracy ${(test.accuracy * 100).toFixed(2)}%` });
    return { epochs, test, plan: g.plan, generations: generationNumber };
  } catch (caught) {
    let err = caught;
    if (stop.signal !== null && (err instanceof StopRequestedError || isGroupFailure(err))) {
      const store = (saving as typeof saving)?.store ?? null;
      err = await stopWithCheckpoint({
        signal: stop.signal,
        generation,
        roundInProgress,
        writeCheckpoint: (saving as typeof saving)?.writeCheckpoint ?? null,
        newestCheckpoint: async () => {
          const loaded = store === null ? null : await store.loadLatestGood();
          return loaded === null
            ? null
            : { globalStep: (loaded.state.meta as unknown as CheckpointMeta).position.globalStep, path: loaded.path };
        },
        hardAbort,
        snapshotTimeoutMs: Math.max(5000, cfg.stopGraceMs),
        log,
      });
      roundInProgress = null;
    }
    events.emit({
      kind: 'failed',
      atMs: now(),
      code: (err as { code?: string }).code ?? 'UNKNOWN',
      message: err instanceof Error ? err.message : String(err),
    });
    if (generation !== null && !generation.group.isDetached) {
      const reason = err instanceof Error ? err.message : String(err);
      if (roundInProgress !== null)
        generation.group.broadcast({ type: 'roundAbort', round: roundInProgress, reason: reason.slice(0, 1024) });
      await generation.group.close({ type: 'leave', reason: 'shutdown', message: reason.slice(0, 4096) }).catch(() => undefined);
    }
    throw err;
  } finally {
    rendezvous.close();
  }
}

/**
 * The checkpoint's metadata, if it can continue this run (the policy single-process training shares); else a `ConfigError` naming the
 * differing settings.
 */
function resumableMeta(meta: unknown, plan: RunPlan, path: string): CheckpointMeta {
  try {
    return checkResumable(meta, { hyper: plan.hyper, model: plan.model }, path);
  } catch (err) {
    if (err instanceof ResumeMismatchError) throw new ConfigError(`--resume: ${err.message}`);
    throw err;
  }
}

/** Checks a round's metrics; returns whether the step was skipped (the ranks must agree). */
function checkMetrics(metrics: readonly Metrics[], round: number): boolean {
  const skipped = metrics.map((m) => m.skipped);
  metrics.forEach((m, rank) => {
    if (m.round !== round) throw new BadReplyError(`metrics from rank ${rank} must be for round ${round}, but are for round ${m.round}`);
  });
  // Every rank sees the same reduced gradient: a disagreement means the replicas diverged.
  if (skipped.some((s) => s !== skipped[0]))
    throw new BadReplyError(
      `ranks disagree on skipping round ${round} (skipped: ${JSON.stringify(skipped)}): replicas are no longer identical`,
    );
  return skipped[0] ?? false;
}
