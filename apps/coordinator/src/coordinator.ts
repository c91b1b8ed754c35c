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
// run_machine.test.ts); those of recovery and of a stop are recovery_decisions.ts's and
// stop_checkpoint.ts's. run_executor.ts performs each action the machine returns (it holds the
// generations and the round in flight) and hands the outcome back as the next event (a
// `GroupFailure` becomes `groupFailed`/`formFailed`); run_setup.ts does step 1, checkpoint_writer.ts
// writes checkpoints, and stop_checkpoint.ts's `endFailedRun` is the way out of a failure or a stop.
// `runCoordinator` owns the rendezvous and the clock and runs the loop: the machine decides, the
// executor performs. Waiting workers and a stop request are handed over as facts before every event.
import type { Logger } from 'pino';
import { listenFailure, readServerTls } from '@gnet/collective';
import type { CheckpointStore, EpochRecord, TestRecord } from '@gnet/run-store';
import { checkpointWriter, type WriteCheckpoint } from './checkpoint_writer.js';
import { ConfigError, type CoordinatorConfig } from './coordinator_config.js';
import type { Generation } from './generation.js';
import { GracefulStop } from './graceful_stop.js';
import { Recovery } from './recovery.js';
import { Rendezvous } from './rendezvous.js';
import { RunEvents } from './run_events.js';
import { RunExecutor } from './run_executor.js';
import type { RunAction, RunMachineEvent } from './run_machine_types.js';
import type { RunPlan } from './run_plan.js';
import { recordFinish } from './run_reports.js';
import { setUpRun } from './run_setup.js';
import { endFailedRun } from './stop_checkpoint.js';

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
  /** Set once the workers joined: it performs the machine's actions and holds the generation. */
  let executor: RunExecutor | null = null;
  const activeGeneration = (): Generation | null => executor?.generation ?? null;
  const rendezvous = await Rendezvous.listen({
    host: cfg.host,
    port: cfg.port,
    token: cfg.token,
    tls: cfg.tlsCert === '' ? null : readServerTls(cfg.tlsCert, cfg.tlsKey),
    maxWorkers: cfg.maxWorkers,
    activeWorkerIds: () => {
      const generation = activeGeneration();
      return generation?.group.members.filter((m) => !generation.group.lost.has(m.rank)).map((m) => m.hello.workerId) ?? [];
    },
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
  /** Set once the run folder is ready: what a stop request saves with. */
  let saving: { writeCheckpoint: WriteCheckpoint; store: CheckpointStore } | null = null;
  try {
    // 1. Data facts, the run folder, and the state to start from.
    const { facts, basePlan, folder, store, machine, start, rounds } = await setUpRun({
      cfg,
      runDir: options.runDir,
      dataDir: options.dataDir,
      log,
      events,
      now,
      abortedNow,
    });
    const { runId } = start;
    const stepsPerEpoch = basePlan.stepsPerEpoch;
    const writeCheckpoint = checkpointWriter({ runId, stepsPerEpoch, store, records: () => machine.records, log, events, now });
    saving = { writeCheckpoint, store };
    // 2. The first generation's members.
    const members = await rendezvous.join(cfg.workers, cfg.joinTimeoutMs, abortedNow);
    const recovery = new Recovery({
      cfg,
      log: options.log.child({ module: 'recovery' }),
      rendezvous,
      aborted: abortedNow,
      // Below --min-workers: keep the survivor's state at once, so --resume loses nothing.
      saveBelowMinimum: (snapshot, generation) => writeCheckpoint(snapshot, generation, snapshot.nextGlobalStep),
    });
    const run = new RunExecutor({
      cfg,
      log,
      rootLog: options.log,
      events,
      now,
      stepLogs: options.stepLogs ?? true,
      rendezvous,
      recovery,
      rounds,
      facts,
      stepsPerEpoch,
      runId,
      folder,
      store,
      writeCheckpoint,
      aborted,
      members,
      state: start.state,
    });
    executor = run;

    /** Hands `event` to the machine, after the facts it learns between events: waiting workers, a stop request. */
    const feed = (event: RunMachineEvent): RunAction[] => {
      machine.handle({ kind: 'workersWaiting', count: rendezvous.pendingCount });
      if (stop.signal !== null) machine.handle({ kind: 'stopRequested', signal: stop.signal });
      return machine.handle(event);
    };

    // 2.-6.: the machine decides, the executor performs, until the machine finishes or fails the run.
    let actions = feed({ kind: 'started', globalStep: start.state.globalStep, epochs: start.epochs, epochSoFar: start.epochSoFar });
    for (;;) {
      let outcome: RunMachineEvent | null = null;
      for (const action of actions) {
        if (action.kind === 'fail') throw action.error;
        if (action.kind === 'finish') {
          // 5. Test, summary, leave.
          const generation = run.current();
          await recordFinish(action.test, action.epochs, generation, { folder, events, atMs: now(), generations: run.generations });
          return { epochs: [...action.epochs], test: action.test, plan: generation.plan, generations: run.generations };
        }
        outcome = await run.perform(action);
      }
      if (outcome === null) throw new Error(`the run machine's actions (${actions.map((a) => a.kind).join(', ')}) wait for nothing`);
      actions = feed(outcome);
    }
  } catch (caught) {
    // Assigned in the try block, which the compiler's narrowing does not follow into the catch.
    const failedRun = executor as RunExecutor | null;
    throw await endFailedRun(caught, {
      stop,
      generation: failedRun?.generation ?? null,
      roundInProgress: failedRun?.roundInProgress ?? null,
      leftBehind: failedRun?.leftBehind() ?? null,
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
