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
//
// The decisions of steps 3-6 (what comes next at a step boundary, when to evaluate, checkpoint,
// re-form, give up or finish) are the run machine's (run_machine.ts, pure, unit-tested in
// run_machine.test.ts). `runCoordinator` is its executor: it owns the rendezvous, the generations,
// the run folder, the round numbers and the clock, performs each action the machine returns and
// hands the outcome back as the next event (a `GroupFailure` becomes `groupFailed`/`formFailed`).
// Waiting workers and a stop request are handed over as facts before every event.
import type { Logger } from 'pino';
import { listenFailure, readServerTls } from '@gnet/collective';
import { CIFAR10_CLASSES } from '@gnet/data';
import { perClassAccuracy, RunFolder, type CheckpointStore, type EpochRecord, type TestRecord } from '@gnet/run-store';
import { checkpointWriter, type WriteCheckpoint } from './checkpoint_writer.js';
import { ConfigError, type CoordinatorConfig } from './coordinator_config.js';
import { isGroupFailure } from './errors.js';
import { formGeneration, generationOf, type Generation } from './generation.js';
import { GracefulStop } from './graceful_stop.js';
import { announceGeneration, checkpointSnapshot, evaluate, formedGeneration } from './group_work.js';
import { endFailedRun } from './stop_checkpoint.js';
import { Recovery } from './recovery.js';
import { RunEvents } from './run_events.js';
import { RunMachine } from './run_machine.js';
import type { RunAction, RunMachineEvent } from './run_machine_types.js';
import { recordEpoch, recordFinish, reportStep } from './run_reports.js';
import { startingPoint } from './run_start.js';
import { Rendezvous } from './rendezvous.js';
import { RoundIds } from './round_ids.js';
import { planRun, type RunPlan } from './run_plan.js';
import { readSplitFacts } from './split_facts.js';
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

/** Runs the whole training; see the steps at the top of this file. */
export async function runCoordinator(options: CoordinatorRunOptions): Promise<CoordinatorResult> {
  const { config: cfg } = options;
  // Siblings of the process's root logger: a child of a child must not bind `module` twice.
  const log = options.log.child({ module: 'coordinator' });
  const events = options.events ?? new RunEvents();
  const now = (): number => Date.now();
  const hardAbort = options.abort ?? new Promise<never>(() => undefined);
  hardAbort.catch(() => undefined);
  const stop = options.stop ?? new GracefulStop(cfg.stopGraceMs);
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
    log: options.log.child({ module: 'rendezvous' }),
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
  options.onListening?.(rendezvous.url);
  /** The round whose step is in flight (aborted on a failure or a stop). */
  let roundInProgress: number | null = null;
  /** Set once the run folder is ready: what a stop request saves with. */
  let saving: { writeCheckpoint: WriteCheckpoint; store: CheckpointStore } | null = null;
  try {
    // 1. Data facts, the run folder, and the state to start from.
    const facts = await Promise.race([readSplitFacts(options.dataDir, cfg.seed, cfg.trainLimit), abortedNow]);
    const basePlan = planRun(
      cfg,
      Array.from({ length: cfg.workers }, () => cfg.backend),
      facts,
    );
    const spe = basePlan.stepsPerEpoch;
    const folder = new RunFolder(options.runDir);
    const store: CheckpointStore = folder.checkpoints(cfg.keepCheckpoints);
    const machine = new RunMachine({
      stepsPerEpoch: spe,
      epochs: basePlan.hyper.epochs,
      maxWorkers: cfg.maxWorkers,
      maxSkippedSteps: cfg.maxSkippedSteps,
      maxReforms: cfg.maxReforms,
      checkpointEverySteps: cfg.checkpointEverySteps,
      classes: CIFAR10_CLASSES,
    });
    const start = await startingPoint(cfg, basePlan, folder, store, log);
    const { runId } = start;
    /** The state the next generation starts from (tensors: never held by the machine). */
    let state = start.state;
    await folder.rewriteMetrics(start.epochs);
    const rounds = RoundIds.open(options.runDir, cfg.resume);
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
        totalSteps: machine.totalSteps,
        epochs: basePlan.hyper.epochs,
        resumedAtStep: cfg.resume ? state.globalStep : null,
      });
    }
    const onLost = (rank: number, workerId: string, reason: string): void =>
      events.emit({ kind: 'membership', atMs: now(), event: 'lost', workerId, rank, reason });

    const writeCheckpoint = checkpointWriter({ runId, stepsPerEpoch: spe, store, records: () => machine.records, log, events, now });
    saving = { writeCheckpoint, store };
    // 2. The first generation's members.
    let members: Candidate[] = await rendezvous.join(cfg.workers, cfg.joinTimeoutMs, abortedNow);
    const recovery = new Recovery({
      cfg,
      log: options.log.child({ module: 'recovery' }),
      rendezvous,
      aborted: abortedNow,
      // Below --min-workers: keep the survivor's state at once, so --resume loses nothing.
      saveBelowMinimum: (snapshot, g) => writeCheckpoint(snapshot, g, snapshot.nextGlobalStep),
    });
    let generationNumber = 0;
    /** The generation a failed formation left behind (recovery detaches its survivors). */
    let broken: Generation | null = null;
    let evalId = 0;
    const current = (): Generation => {
      if (generation === null) throw new Error('no generation formed yet');
      return generation;
    };
    const logEvery = Math.max(1, Math.floor(spe / 10));

    /** Performs one action that waits for the workers; returns the outcome as the machine's next event. */
    const perform = async (action: RunAction): Promise<RunMachineEvent | null> => {
      switch (action.kind) {
        case 'form':
          try {
            generation = await formGeneration({
              cfg,
              members,
              generation: generationNumber++,
              runId,
              facts,
              state,
              stepsPerEpoch: spe,
              // The weights check's round: from `RoundIds`, never reused.
              checkRound: rounds.next(),
              log: options.log,
              aborted,
              onLost,
            });
            announceGeneration(generation, { globalStep: state.globalStep, stepsPerEpoch: spe, events, log, atMs: now() });
            return { kind: 'formed', ...formedGeneration(generation) };
          } catch (err) {
            if (!isGroupFailure(err)) throw err;
            broken = generationOf(err);
            return { kind: 'formFailed', error: err };
          }
        case 'recover': {
          const afterForm = action.snapshotFrom === 'none';
          const next = await recovery.recover(afterForm ? broken! : current(), action.error, {
            snapshotFrom: action.snapshotFrom,
            state,
            globalStep: action.globalStep,
            roundInProgress: afterForm ? undefined : roundInProgress,
            lastCheckpoint: () => store.loadLatestGood(log),
          });
          roundInProgress = null;
          members = next.members;
          state = next.state;
          return { kind: 'recovered', globalStep: state.globalStep, rolledBackTo: next.rolledBackTo };
        }
        case 'stepDone':
          reportStep(action, current(), {
            events,
            log,
            atMs: now(),
            infoLine: (options.stepLogs ?? true) && (action.step + 1) % logEvery === 0,
          });
          return null;
        case 'epochDone':
          await recordEpoch(action.record, action.epochs, current(), { events, folder, log, atMs: now() });
          return null;
        case 'rewriteMetrics':
          await folder.rewriteMetrics([...action.epochs]);
          return null;
        case 'refuse': {
          const g = current();
          for (const { rank, error } of action.refusals) g.group.refuse(rank, error);
          return { kind: 'groupFailed', error: g.group.failedWith! };
        }
        case 'finish':
        case 'fail':
          throw new Error(`action '${action.kind}' is the executor's to end the run with`);
        default:
          try {
            return await performGroupWork(action);
          } catch (err) {
            if (!isGroupFailure(err)) throw err;
            return { kind: 'groupFailed', error: err };
          }
      }
    };

    /** The actions that wait for the group; a broken generation throws a `GroupFailure`. */
    const performGroupWork = async (
      action: Extract<RunAction, { kind: 'startRound' | 'evaluate' | 'checkpoint' | 'admit' }>,
    ): Promise<RunMachineEvent> => {
      const g = current();
      switch (action.kind) {
        case 'startRound': {
          // 3. One step.
          const round = rounds.next();
          const { epoch, step, globalStep, lr } = action;
          g.group.setPhase(`round ${round} (epoch ${epoch}, step ${step})`);
          const started = performance.now();
          roundInProgress = round;
          g.group.broadcast({ type: 'roundStart', round, epoch, step, globalStep, lr });
          const metrics = await g.together(
            g.hubRound('grad', round),
            g.group.collect('metrics', { timeoutMs: cfg.roundTimeoutMs, match: (m) => m.round === round }),
          );
          roundInProgress = null;
          return { kind: 'roundDone', round, metrics, roundMs: performance.now() - started };
        }
        case 'evaluate': {
          // 4. (and 5.) One sharded evaluation, BatchNorm statistics averaged first if the weights moved.
          const { split, epoch } = action;
          const totals = await evaluate(g, { split, epoch, averageBatchNorm: action.averageBatchNorm, evalId: evalId++, rounds, cfg });
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
          return { kind: 'evaluated', totals };
        }
        case 'checkpoint': {
          const snapshot = await checkpointSnapshot(g, action.globalStep, spe, cfg.roundTimeoutMs);
          await writeCheckpoint(snapshot, g, action.globalStep);
          return { kind: 'checkpointed', globalStep: action.globalStep };
        }
        case 'admit': {
          // Workers waiting to join come in at this step boundary.
          log.info(
            { waiting: rendezvous.pendingCount, worldSize: g.plan.worldSize, globalStep: action.globalStep },
            'admitting joining workers at a step boundary',
          );
          const next = await recovery.admit(g, action.globalStep);
          members = next.members;
          state = next.state;
          return { kind: 'admitted' };
        }
      }
    };

    /** Hands `event` to the machine, after the facts it learns between events: waiting workers, a stop request. */
    const feed = (event: RunMachineEvent): RunAction[] => {
      machine.handle({ kind: 'workersWaiting', count: rendezvous.pendingCount });
      if (stop.signal !== null) machine.handle({ kind: 'stopRequested', signal: stop.signal });
      return machine.handle(event);
    };

    let actions = feed({ kind: 'started', globalStep: state.globalStep, epochs: start.epochs, epochSoFar: start.epochSoFar });
    for (;;) {
      let outcome: RunMachineEvent | null = null;
      for (const action of actions) {
        if (action.kind === 'fail') throw action.error;
        if (action.kind === 'finish') {
          // 5. Test, summary, leave.
          const g = current();
          await recordFinish(action.test, action.epochs, g, { folder, events, atMs: now(), generations: generationNumber });
          return { epochs: [...action.epochs], test: action.test, plan: g.plan, generations: generationNumber };
        }
        outcome = await perform(action);
      }
      if (outcome === null) throw new Error(`the run machine's actions (${actions.map((a) => a.kind).join(', ')}) wait for nothing`);
      actions = feed(outcome);
    }
  } catch (caught) {
    // Assigned in the executor's closures, which the compiler's narrowing does not follow.
    throw await endFailedRun(caught, {
      stop,
      generation: generation as Generation | null,
      roundInProgress: roundInProgress as number | null,
      saving: saving as typeof saving,
      hardAbort,
      stopGraceMs: cfg.stopGraceMs,
      log,
      events,
      now,
    });
  } finally {
    rendezvous.close();
  }
}
