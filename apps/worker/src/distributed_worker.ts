// One worker of a data-parallel run, from `hello` to `leave`, through any number of re-formed
// groups and coordinator restarts. The round protocol, worker side (the coordinator's view is in
// apps/coordinator/src/coordinator.ts):
//
//  1. Open the ring listener (it lives as long as the process), dial the coordinator and send
//     `hello` (with the backend chosen at start-up); wait for `welcome`.
//  2. Each generation (`welcome` + `initialWeights`): build GoogLeNet from `hyper.seed` once per
//     run, or load the sent state (a checkpoint's or a survivor's); check the bucket layout covers
//     its parameters and the data on disk is the coordinator's split; open this generation's ring
//     (dial rank + 1, accept rank - 1) or use the coordinator connection as the star.
//  3. The generation's first round (`initialWeights.round`): all-reduce the SHA-256 of the
//     weights and stop unless every rank has ours; then send `ready`.
//  4. `roundStart`: this rank's slice of the global batch → forward/backward in micro-batches
//     with lossScale 1 / globalBatch → bucketed all-reduce (a sum: the global mean gradient,
//     bit-identical on every rank) → the same SGD update as every other replica (skipped alike on
//     every rank when the reduced gradient is not finite) → `metrics`.
//  5. `evalRequest`: if the weights changed since the last evaluation, average the BatchNorm
//     running statistics across ranks (one float32 all-reduce round, the round after the last one
//     seen), then evaluate the shard and send `evalResult` (sums).
//  6. `checkpointRequest`: send the full state as `stateSnapshot` (with the step it trains next).
//  7. A failed all-reduce (a neighbour died or went silent) is reported as `roundFailed`; the
//     worker keeps its state and waits for the coordinator: `roundAbort`, maybe a
//     `checkpointRequest` (this worker is the survivor whose state the new group starts from),
//     then a new `welcome` → step 2 with `generation + 1`.
//  8. `leave` (finished): exit 0. The coordinator lost (its connection dropped or went silent) or
//     `leave` (evicted): dial again with bounded backoff for `--reconnect-timeout-ms`, and rejoin
//     as a new member. `leave` (shutdown) or a protocol error: stop with exit code 1.
//  9. SIGINT/SIGTERM: send `leave` (shutdown), abort the round in progress and train no more, but
//     keep answering `checkpointRequest` (when every worker is stopped at once, as Slurm and
//     Kubernetes do, the coordinator saves the state of a leaving one) until the coordinator
//     closes the connection or --leave-grace-ms pass.
// What to do with each message is decided by worker_machine.ts (pure, unit-tested); steps 3-6 run
// in replica_session.ts, which returns its replies; this file is the executor: it owns the
// connections, the ring, one abort signal per round (round_signal.ts), and sends.
import { cpus, totalmem } from 'node:os';
import type { Logger } from 'pino';
import { readCifar10, type CifarSet } from '@gnet/data';
import { PROTOCOL_VERSION, type InitialWeights, type Message, type Welcome } from '@gnet/protocol';
import {
  listenFailure,
  connectRing,
  createBucketAllReduce,
  GradientReducer,
  WsPeerListener,
  type BucketAllReduce,
  type Transport,
} from '@gnet/collective';
import { CoordinatorLink, CoordinatorLinkError, type HelloFields } from './coordinator_link.js';
import { RoundSignals } from './round_signal.js';
import { prepareRun, type RunState } from './run_state.js';
import type { ServeConfig } from './serve_config.js';
import type { Timeline } from './timeline.js';
import { ConfigError } from './train_config.js';
import {
  dispatch,
  initialWorkerState,
  onArrival,
  ringOpened,
  roundBegan,
  roundEnded,
  shutdown,
  type WorkerState,
} from './worker_machine.js';
import { WorkerRunError } from './worker_run_error.js';
import { listenerTls, trustedCa } from './worker_tls.js';

/** Options of {@link runDistributedWorker}. */
export interface DistributedWorkerOptions {
  config: ServeConfig;
  /** The backend selected at start-up (`selectBackend`). */
  backend: string;
  /** Absolute CIFAR-10 folder, verified. */
  dataDir: string;
  log: Logger;
  /** Aborting it (SIGTERM) tells the coordinator `leave` (shutdown) and stops the worker. */
  signal?: AbortSignal;
  /** `--timeline`: where each step's phases go (opened and closed by the caller); absent: nowhere. */
  timeline?: Timeline | null;
}

/** How the run ended for this worker. */
export interface WorkerOutcome {
  rank: number;
  steps: number;
  message: string;
  /** Times this worker dialed the coordinator again after losing it or being evicted. */
  rejoins: number;
}

function describeDevice(): string {
  const cpu = cpus();
  return `${cpu.length}x ${cpu[0]?.model.trim() ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB`.slice(0, 256);
}

/**
 * The run state a failed `serveLink` leaves behind, kept beside its error (not on it: an error is
 * logged, and a model with its weights must never reach the log serializer).
 */
const runOfError = new WeakMap<object, RunState | null>();

/** Failures after which the worker dials the coordinator again instead of exiting. */
function canRejoin(err: unknown): boolean {
  if (err instanceof CoordinatorLinkError) return err.code === 'LINK_LOST' || err.code === 'LINK_SILENT';
  return err instanceof WorkerRunError && err.code === 'WORKER_EVICTED';
}

/** Runs one worker of the run; see the steps at the top of this file. */
export async function runDistributedWorker(options: DistributedWorkerOptions): Promise<WorkerOutcome> {
  const { config } = options;
  const listener = await WsPeerListener.listen({
    host: config.peerHost,
    port: config.peerPort,
    token: config.token,
    tls: listenerTls(config),
    log: options.log.child({ module: 'peer_listener' }),
  }).catch((err: unknown) => {
    const why = listenFailure(err, '--peer-port', config.peerHost, config.peerPort);
    throw why === null ? err : new ConfigError(why);
  });
  const dataPromise = Promise.all([readCifar10(options.dataDir, 'train'), readCifar10(options.dataDir, 'test')]);
  dataPromise.catch(() => undefined);
  const hello: HelloFields = {
    type: 'hello',
    protocolVersion: PROTOCOL_VERSION,
    workerId: config.workerId,
    backend: options.backend,
    device: describeDevice(),
    peer: { host: config.advertiseHost, port: listener.port, tls: listener.tls },
  };
  let run: RunState | null = null;
  let rejoins = 0;
  try {
    for (;;) {
      if (options.signal?.aborted === true) throw new WorkerRunError('WORKER_STOPPED', `stopped by ${String(options.signal.reason)}`);
      const link = await CoordinatorLink.connect({
        url: config.coordinator,
        hello,
        secret: config.token,
        ca: trustedCa(config),
        // The first dial waits for a coordinator that is still starting; later ones for a restart.
        connectTimeoutMs: rejoins === 0 ? config.connectTimeoutMs : Math.max(1, config.reconnectTimeoutMs),
        joinTimeoutMs: config.joinTimeoutMs,
        silenceTimeoutMs: config.coordinatorTimeoutMs,
        log: options.log,
      });
      try {
        const served = await serveLink(link, options, listener, dataPromise, run);
        run = served.run;
        if (served.outcome !== null) return { ...served.outcome, rejoins };
      } catch (err) {
        const failed = err as Error;
        run = runOfError.get(failed) ?? run;
        if (!canRejoin(err) || config.reconnectTimeoutMs === 0 || (options.signal?.aborted ?? false)) throw err;
        rejoins += 1;
        const evicted = failed instanceof WorkerRunError && failed.code === 'WORKER_EVICTED';
        options.log.warn(
          { reason: failed.message, rejoins, reconnectTimeoutMs: config.reconnectTimeoutMs },
          evicted ? 'evicted by the coordinator; dialing again to rejoin' : 'lost the coordinator; dialing again to rejoin',
        );
      }
    }
  } finally {
    await listener.close();
    run?.model.dispose();
  }
}

/**
 * Serves one connection to the coordinator: generations until `leave` (outcome) or a failure
 * (thrown; the run state is kept in `runOfError` so a rejoin keeps the model). The decisions are
 * worker_machine.ts's; this function carries them out.
 */
async function serveLink(
  link: CoordinatorLink,
  options: DistributedWorkerOptions,
  listener: WsPeerListener,
  dataPromise: Promise<[CifarSet, CifarSet]>,
  previous: RunState | null,
): Promise<{ run: RunState | null; outcome: Omit<WorkerOutcome, 'rejoins'> | null }> {
  const { config } = options;
  let run = previous;
  let log = options.log;
  // Heartbeats start with the welcome, before the data finishes loading: the coordinator's
  // silence clock starts when it sends the welcome, and reading CIFAR-10 on a loaded machine can
  // take longer than a short --worker-timeout-ms (the files are read one by one, so beats go out).
  link.startHeartbeat(link.welcome.heartbeatMs);
  const [train, test] = await dataPromise;
  // The machine's state. Arrivals (roundAbort, leave, error) and SIGTERM change it while a round
  // runs, so it is read afresh after every await and never written back from a stale copy.
  let machine: WorkerState = initialWorkerState(link.welcome);
  // Everything from here on stops at once when the coordinator goes away or ends the run: the
  // message wait (`stop`) and the round in progress and every later one (`rounds`).
  const stop = new AbortController();
  const rounds = new RoundSignals();
  const stopWith = (err: Error): void => {
    stop.abort(err);
    rounds.stop(err.message);
  };
  link.onFailure(stopWith);
  let leaveGraceTimer: NodeJS.Timeout | null = null;
  const onShutdown = (): void => {
    const why = `stopped by ${String(options.signal?.reason ?? 'a signal')}`;
    const { state, action } = shutdown(machine, why);
    machine = state;
    if (action.kind === 'none') return;
    link.send(action.leave);
    rounds.stop(action.reason);
    log.info(
      { leaveGraceMs: config.leaveGraceMs },
      'leaving: no more steps; our state stays available to the coordinator until it closes the connection',
    );
    leaveGraceTimer = setTimeout(
      () =>
        stopWith(
          new WorkerRunError(
            'WORKER_STOPPED',
            `${why}; the coordinator did not close the connection within --leave-grace-ms ${config.leaveGraceMs}`,
          ),
        ),
      config.leaveGraceMs,
    );
  };
  if (options.signal?.aborted === true) onShutdown();
  else options.signal?.addEventListener('abort', onShutdown, { once: true });
  link.onUrgent = (message: Message) => {
    const { state, action } = onArrival(machine, message);
    machine = state;
    if (action.kind === 'abortRound' && action.abortRunning) rounds.abortRunning(action.reason);
    else if (action.kind === 'stop') stopWith(action.error);
  };

  /** Enters all-reduce round `round` (null: none): its one abort signal, aborted already if the round was. */
  const beginRound = (round: number | null): AbortSignal => {
    machine = roundBegan(machine, round);
    const signal = rounds.begin();
    if (round !== null && machine.abortedRounds.includes(round)) rounds.abortRunning(`the coordinator aborted round ${round}`);
    return signal;
  };
  const endRound = (): void => {
    rounds.end();
    machine = roundEnded(machine);
  };
  const requireRun = (): RunState => {
    if (run === null) throw new WorkerRunError('WORKER_PROTOCOL', 'a round arrived before the first generation was formed');
    return run;
  };

  let ring: Transport | null = null;
  const closeRing = async (code: number, reason: string): Promise<void> => {
    if (ring !== null && ring !== link.transport) await ring.close(code, reason).catch(() => undefined);
    ring = null;
  };

  /** Steps 2-3 for `initial`: the run state, this generation's ring and group, the weights check, `ready`. */
  const formGeneration = async (welcome: Welcome, initial: InitialWeights): Promise<void> => {
    // The root logger binds workerId already; a second binding would duplicate the JSON key.
    log = options.log.child({ rank: welcome.rank });
    run = prepareRun(run, welcome, initial, {
      config,
      backend: options.backend,
      sets: { train, test },
      log,
      timeline: options.timeline ?? null,
    });
    const { replica, session, data } = run;
    log.info(
      {
        generation: welcome.generation,
        worldSize: welcome.worldSize,
        runId: welcome.runId,
        algorithm: welcome.allReduce.algorithm,
        epoch: initial.epoch,
        step: initial.step,
        globalStep: initial.globalStep,
        stateFrom: initial.tensors.length > 0 ? 'sent' : 'seed',
      },
      'welcome',
    );
    await closeRing(1000, `generation ${welcome.generation}`);
    const signal = beginRound(initial.round);
    try {
      let transport: Transport;
      try {
        transport =
          welcome.allReduce.algorithm === 'ring'
            ? await connectRing({
                listener,
                rank: welcome.rank,
                worldSize: welcome.worldSize,
                runId: welcome.runId,
                generation: welcome.generation,
                peers: welcome.peers,
                token: config.token,
                ca: trustedCa(config),
                timeoutMs: config.connectTimeoutMs,
              })
            : link.starHub();
      } catch (err) {
        sendReply(session.roundFailed(initial.round, err, signal, 'opening the ring'));
        return;
      }
      ring = transport;
      machine = ringOpened(machine);
      const algorithm = (wireDtype: 'float32' | null): BucketAllReduce =>
        createBucketAllReduce({
          config: wireDtype === null ? welcome.allReduce : { ...welcome.allReduce, wireDtype },
          transport,
          rank: welcome.rank,
          worldSize: welcome.worldSize,
          timeoutMs: config.collectiveTimeoutMs,
        });
      // Weights checks and BatchNorm statistics are always exact float32, whatever the gradients use.
      const exact = algorithm('float32');
      session.setGroup(
        {
          generation: welcome.generation,
          rank: welcome.rank,
          worldSize: welcome.worldSize,
          reducer: new GradientReducer({ algorithm: algorithm(null), buckets: welcome.buckets }),
          allReduceVector: (values, round, roundSignal) =>
            exact.reduceBucket(values, { bucket: 0, offset: 0, length: values.length }, { round, signal: roundSignal }),
        },
        initial.globalStep,
      );
      // 3. The weights check of this generation.
      try {
        const digest = await session.checkInitialWeights(initial.round, signal);
        log.info(
          {
            generation: welcome.generation,
            weightsSha256: digest,
            params: replica.layout.size,
            buffers: replica.bufferLayout.size,
            microBatch: welcome.hyper.microBatch,
            stepsPerEpoch: data.stepsPerEpoch,
          },
          'initial weights checked',
        );
        link.send({ type: 'ready', generation: welcome.generation });
      } catch (err) {
        sendReply(session.roundFailed(initial.round, err, signal, 'weights check'));
      }
    } finally {
      endRound();
    }
  };
  const sendReply = (reply: Message | null): void => {
    if (reply !== null) link.send(reply);
  };

  try {
    let welcome: Welcome = link.welcome;
    for (;;) {
      const message = await next(link, stop.signal);
      const { state, action } = dispatch(machine, message);
      machine = state;
      switch (action.kind) {
        case 'skip':
          break;
        case 'formGeneration':
          await formGeneration(welcome, action.initial);
          break;
        case 'newGeneration':
          welcome = action.welcome;
          break;
        case 'trainStep': {
          const signal = beginRound(action.roundStart.round);
          try {
            sendReply((await requireRun().session.trainStep(action.roundStart, signal)).reply);
          } finally {
            endRound();
          }
          break;
        }
        case 'evaluate': {
          const signal = beginRound(action.evalRequest.averageRound);
          try {
            sendReply((await requireRun().session.evaluate(action.evalRequest, signal)).reply);
          } finally {
            endRound();
          }
          break;
        }
        case 'snapshot':
          link.send(requireRun().session.snapshot(action.checkpointRequest));
          break;
        case 'finish': {
          const { session } = requireRun();
          const weightsSha256 = await session.finish();
          log.info({ steps: session.steps, skippedSteps: session.skippedSteps, weightsSha256, message: action.message }, 'run finished');
          await closeRing(1000, 'finished');
          await link.close(1000, 'finished');
          return { run, outcome: { rank: link.welcome.rank, steps: session.steps, message: action.message } };
        }
        case 'fail':
          throw action.error;
      }
    }
  } catch (caught) {
    let err = caught;
    // Leaving on a signal, the coordinator closing our connection is the expected end.
    if (machine.leaving) {
      const session = run?.session;
      const held =
        session !== undefined && session.lastSnapshotNextStep === session.nextGlobalStep
          ? `the coordinator has our latest state (it trains step ${session.nextGlobalStep} next)`
          : 'the coordinator did not take our latest state';
      err = new WorkerRunError(
        'WORKER_STOPPED',
        `stopped by ${String(options.signal?.reason ?? 'a signal')}; ${held} (${err instanceof Error ? err.message : String(err)})`,
      );
    }
    // The error explains itself in the coordinator's log too: close with it as the reason.
    const reason = (err instanceof Error ? err.message : String(err)).slice(0, 120);
    await closeRing(1011, reason);
    await link.close(canRejoin(err) ? 1001 : 1011, reason).catch(() => undefined);
    if (err instanceof Error) runOfError.set(err, run);
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onShutdown);
    if (leaveGraceTimer !== null) clearTimeout(leaveGraceTimer);
  }
}

/** The next message, or the reason the link or run stopped, whichever comes first. */
async function next(link: CoordinatorLink, signal: AbortSignal): Promise<Message> {
  const reason = (): Error => (signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
  if (signal.aborted) throw reason();
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(reason());
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([link.next(), aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
