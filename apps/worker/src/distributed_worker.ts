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
// Steps 3-6 run in replica_session.ts; this file owns the connections and the message loop.
import { cpus, totalmem } from 'node:os';
import type { Logger } from 'pino';
import { readCifar10, type CifarSet } from '@gnet/data';
import { createGoogLeNet, type GoogLeNet } from '@gnet/model';
import { PROTOCOL_VERSION, type InitialWeights, type Message, type Welcome } from '@gnet/protocol';
import {
  listenFailure,
  connectRing,
  createBucketAllReduce,
  GradientReducer,
  layoutElements,
  WsPeerListener,
  type BucketAllReduce,
  type Transport,
} from '@gnet/collective';
import { maxMicroBatch, Replica, type BackendName } from '@gnet/training';
import { CoordinatorLink, CoordinatorLinkError, type HelloFields } from './coordinator_link.js';
import { RankData } from './rank_data.js';
import { ReplicaSession } from './replica_session.js';
import type { ServeConfig } from './serve_config.js';
import type { Timeline } from './timeline.js';
import { tensorsInto } from './wire_state.js';
import { ConfigError } from './train_config.js';
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

/** The run this worker trains in: its model, data and session outlive generations and reconnects. */
interface RunState {
  runId: string;
  model: GoogLeNet;
  replica: Replica;
  data: RankData;
  session: ReplicaSession;
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
export async function runDistributedWorker(o: DistributedWorkerOptions): Promise<WorkerOutcome> {
  const { config: cfg } = o;
  const listener = await WsPeerListener.listen({
    host: cfg.peerHost,
    port: cfg.peerPort,
    token: cfg.token,
    tls: listenerTls(cfg),
    log: o.log.child({ module: 'peer_listener' }),
  }).catch((err: unknown) => {
    const why = listenFailure(err, '--peer-port', cfg.peerHost, cfg.peerPort);
    throw why === null ? err : new ConfigError(why);
  });
  const dataPromise = Promise.all([readCifar10(o.dataDir, 'train'), readCifar10(o.dataDir, 'test')]);
  dataPromise.catch(() => undefined);
  const hello: HelloFields = {
    type: 'hello',
    protocolVersion: PROTOCOL_VERSION,
    workerId: cfg.workerId,
    backend: o.backend,
    device: describeDevice(),
    peer: { host: cfg.advertiseHost, port: listener.port, tls: listener.tls },
  };
  let run: RunState | null = null;
  let rejoins = 0;
  try {
    for (;;) {
      if (o.signal?.aborted === true) throw new WorkerRunError('WORKER_STOPPED', `stopped by ${String(o.signal.reason)}`);
      const link = await CoordinatorLink.connect({
        url: cfg.coordinator,
        hello,
        secret: cfg.token,
        ca: trustedCa(cfg),
        // The first dial waits for a coordinator that is still starting; later ones for a restart.
        connectTimeoutMs: rejoins === 0 ? cfg.connectTimeoutMs : Math.max(1, cfg.reconnectTimeoutMs),
        joinTimeoutMs: cfg.joinTimeoutMs,
        silenceTimeoutMs: cfg.coordinatorTimeoutMs,
        log: o.log,
      });
      try {
        const served = await serveLink(link, o, listener, dataPromise, run);
        run = served.run;
        if (served.outcome !== null) return { ...served.outcome, rejoins };
      } catch (err) {
        const failed = err as Error;
        run = runOfError.get(failed) ?? run;
        if (!canRejoin(err) || cfg.reconnectTimeoutMs === 0 || (o.signal?.aborted ?? false)) throw err;
        rejoins += 1;
        const evicted = failed instanceof WorkerRunError && failed.code === 'WORKER_EVICTED';
        o.log.warn(
          { reason: failed.message, rejoins, reconnectTimeoutMs: cfg.reconnectTimeoutMs },
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
 * (thrown; the run state is kept in `runOfError` so a rejoin keeps the model).
 */
async function serveLink(
  link: CoordinatorLink,
  o: DistributedWorkerOptions,
  listener: WsPeerListener,
  dataPromise: Promise<[CifarSet, CifarSet]>,
  previous: RunState | null,
): Promise<{ run: RunState | null; outcome: Omit<WorkerOutcome, 'rejoins'> | null }> {
  const { config: cfg } = o;
  let run = previous;
  let log = o.log;
  // Heartbeats start with the welcome, before the data finishes loading: the coordinator's
  // silence clock starts when it sends the welcome, and reading CIFAR-10 on a loaded machine can
  // take longer than a short --worker-timeout-ms (the files are read one by one, so beats go out).
  link.startHeartbeat(link.welcome.heartbeatMs);
  const [train, test] = await dataPromise;
  // Everything from here on stops at once when the coordinator goes away or ends the run.
  const stop = new AbortController();
  link.onFailure((err) => stop.abort(err));
  let leaving: NodeJS.Timeout | null = null;
  const onShutdown = (): void => {
    if (leaving !== null) return;
    const why = `stopped by ${String(o.signal?.reason ?? 'a signal')}`;
    link.send({ type: 'leave', reason: 'shutdown', message: why });
    run?.session.leave();
    abortRound(why);
    log.info(
      { leaveGraceMs: cfg.leaveGraceMs },
      'leaving: no more steps; our state stays available to the coordinator until it closes the connection',
    );
    leaving = setTimeout(
      () =>
        stop.abort(
          new WorkerRunError(
            'WORKER_STOPPED',
            `${why}; the coordinator did not close the connection within --leave-grace-ms ${cfg.leaveGraceMs}`,
          ),
        ),
      cfg.leaveGraceMs,
    );
  };
  if (o.signal?.aborted === true) onShutdown();
  else o.signal?.addEventListener('abort', onShutdown, { once: true });
  let ring: Transport | null = null;
  let gradients: GradientReducer | null = null;
  /** Aborts the exact all-reduce in progress (a weights check or BatchNorm average), if any. */
  let vectorAbort: AbortController | null = null;
  const abortRound = (why: string): void => {
    gradients?.abort(why);
    vectorAbort?.abort(why);
  };
  stop.signal.addEventListener('abort', () => abortRound(stop.signal.reason instanceof Error ? stop.signal.reason.message : 'stopped'), {
    once: true,
  });
  link.onUrgent = (message: Message) => {
    if (message.type === 'roundAbort') {
      run?.session.markAborted(message.round);
      abortRound(`the coordinator aborted round ${message.round}: ${message.reason}`);
      return;
    }
    if (message.type === 'leave' && message.reason === 'finished') return;
    const why =
      message.type === 'leave'
        ? message.reason === 'evicted'
          ? `the coordinator evicted this worker: ${message.message}`
          : `the coordinator ended the run (${message.reason})${message.message === '' ? '' : `: ${message.message}`}`
        : message.type === 'error'
          ? `the coordinator reported ${message.code}: ${message.message}`
          : '';
    if (why === '') return;
    const code =
      leaving !== null
        ? 'WORKER_STOPPED'
        : message.type === 'leave' && message.reason === 'evicted'
          ? 'WORKER_EVICTED'
          : message.type === 'leave'
            ? 'WORKER_RUN_STOPPED'
            : 'WORKER_ABORTED';
    stop.abort(new WorkerRunError(code, why));
  };
  const closeRing = async (code: number, reason: string): Promise<void> => {
    if (ring !== null && ring !== link.transport) await ring.close(code, reason).catch(() => undefined);
    ring = null;
  };
  try {
    let welcome: Welcome | null = link.welcome;
    for (;;) {
      // 2. A generation.
      const w: Welcome = welcome;
      welcome = null;
      const initial = await nextOf(link, stop.signal, 'initialWeights');
      if (initial.generation !== w.generation) {
        throw new WorkerRunError(
          'WORKER_PROTOCOL',
          `initialWeights.generation must be the welcome's ${w.generation}, but got ${initial.generation}`,
        );
      }
      // The root logger binds workerId already; a second binding would duplicate the JSON key.
      log = o.log.child({ rank: w.rank });
      run = prepareRun(run, w, initial, { train, test }, o, link, log);
      const { replica, session } = run;
      log.info(
        {
          generation: w.generation,
          worldSize: w.worldSize,
          runId: w.runId,
          algorithm: w.allReduce.algorithm,
          epoch: initial.epoch,
          step: initial.step,
          globalStep: initial.globalStep,
          stateFrom: initial.tensors.length > 0 ? 'sent' : 'seed',
        },
        'welcome',
      );
      await closeRing(1000, `generation ${w.generation}`);
      let ready = true;
      try {
        ring =
          w.allReduce.algorithm === 'ring'
            ? await connectRing({
                listener,
                rank: w.rank,
                worldSize: w.worldSize,
                runId: w.runId,
                generation: w.generation,
                peers: w.peers,
                token: cfg.token,
                ca: trustedCa(cfg),
                timeoutMs: cfg.connectTimeoutMs,
              })
            : link.transport;
      } catch (err) {
        session.reportRoundFailed(initial.round, err, 'opening the ring');
        ready = false;
      }
      if (ready) {
        const transport = ring!;
        const algorithm = (wireDtype: 'float32' | null): BucketAllReduce =>
          createBucketAllReduce({
            config: wireDtype === null ? w.allReduce : { ...w.allReduce, wireDtype },
            transport,
            rank: w.rank,
            worldSize: w.worldSize,
            timeoutMs: cfg.collectiveTimeoutMs,
          });
        gradients = new GradientReducer({ algorithm: algorithm(null), buckets: w.buckets });
        // Weights checks and BatchNorm statistics are always exact float32, whatever the gradients use.
        const exact = algorithm('float32');
        const allReduceVector = async (values: Float32Array, round: number): Promise<void> => {
          const current = new AbortController();
          vectorAbort = current;
          if (stop.signal.aborted || run!.session.isAborted(round)) current.abort('aborted');
          try {
            await exact.reduceBucket(values, { bucket: 0, offset: 0, length: values.length }, { round, signal: current.signal });
          } finally {
            vectorAbort = null;
          }
        };
        session.setGroup(
          { generation: w.generation, rank: w.rank, worldSize: w.worldSize, reducer: gradients, allReduceVector },
          initial.globalStep,
        );
        // 3. The weights check of this generation.
        try {
          const digest = await session.checkInitialWeights(initial.round);
          log.info(
            {
              generation: w.generation,
              weightsSha256: digest,
              params: replica.layout.size,
              buffers: replica.bufferLayout.size,
              microBatch: w.hyper.microBatch,
              stepsPerEpoch: run.data.stepsPerEpoch,
            },
            'initial weights checked',
          );
          link.send({ type: 'ready', generation: w.generation });
        } catch (err) {
          session.reportRoundFailed(initial.round, err, 'weights check');
        }
      }

      // 4-8. Messages until the next generation or the end.
      while (welcome === null) {
        const message = await next(link, stop.signal);
        switch (message.type) {
          case 'roundStart':
            if (gradients !== null) await session.trainStep(message);
            break;
          case 'evalRequest':
            if (gradients !== null) await session.evaluate(message);
            break;
          case 'checkpointRequest':
            session.snapshot(message);
            break;
          case 'roundAbort':
            // Marked on arrival (onUrgent); the coordinator's next move follows.
            break;
          case 'welcome':
            // A leaving worker joins no new generation.
            if (leaving !== null) throw new WorkerRunError('WORKER_STOPPED', 'stopped by a signal; not joining the next generation');
            welcome = message;
            break;
          case 'leave': {
            if (leaving !== null)
              throw new WorkerRunError('WORKER_STOPPED', `stopped by a signal; the coordinator said leave (${message.reason})`);
            if (message.reason === 'evicted')
              throw new WorkerRunError('WORKER_EVICTED', `the coordinator evicted this worker: ${message.message}`);
            if (message.reason !== 'finished')
              throw new WorkerRunError('WORKER_RUN_STOPPED', `the coordinator ended the run (${message.reason}): ${message.message}`);
            const weightsSha256 = await session.finish();
            log.info({ steps: session.steps, skippedSteps: session.skippedSteps, weightsSha256, message: message.message }, 'run finished');
            await closeRing(1000, 'finished');
            await link.close(1000, 'finished');
            return { run, outcome: { rank: link.welcome.rank, steps: session.steps, message: message.message } };
          }
          case 'error':
            throw new WorkerRunError('WORKER_PROTOCOL', `the coordinator reported ${message.code}: ${message.message}`);
          default:
            throw new WorkerRunError('WORKER_PROTOCOL', `unexpected '${message.type}' from the coordinator between rounds`);
        }
      }
      gradients = null;
    }
  } catch (caught) {
    let err = caught;
    // Leaving on a signal, the coordinator closing our connection is the expected end.
    if (leaving !== null) {
      const session = run?.session;
      const held =
        session !== undefined && session.lastSnapshotNextStep === session.nextGlobalStep
          ? `the coordinator has our latest state (it trains step ${session.nextGlobalStep} next)`
          : 'the coordinator did not take our latest state';
      err = new WorkerRunError(
        'WORKER_STOPPED',
        `stopped by ${String(o.signal?.reason ?? 'a signal')}; ${held} (${err instanceof Error ? err.message : String(err)})`,
      );
    }
    // The error explains itself in the coordinator's log too: close with it as the reason.
    const reason = (err instanceof Error ? err.message : String(err)).slice(0, 120);
    await closeRing(1011, reason);
    await link.close(canRejoin(err) ? 1001 : 1011, reason).catch(() => undefined);
    if (err instanceof Error) runOfError.set(err, run);
    throw err;
  } finally {
    o.signal?.removeEventListener('abort', onShutdown);
    if (leaving !== null) clearTimeout(leaving);
  }
}

/**
 * The run state for this generation: the same run keeps its model (loading the sent state, if
 * any); a new run (another `runId`, e.g. a coordinator started afresh) gets a new model.
 */
function prepareRun(
  previous: RunState | null,
  w: Welcome,
  initial: InitialWeights,
  sets: { train: CifarSet; test: CifarSet },
  o: DistributedWorkerOptions,
  link: CoordinatorLink,
  log: Logger,
): RunState {
  const { hyper } = w;
  const microBatchCap = maxMicroBatch(o.backend as BackendName, w.model.width);
  if (hyper.microBatch > microBatchCap) {
    throw new WorkerRunError(
      'WORKER_MICRO_BATCH',
      `welcome.hyper.microBatch must be at most ${microBatchCap} on ${o.backend} at width ${w.model.width}, but got ${hyper.microBatch}: the coordinator's wasm budget disagrees with @gnet/training`,
    );
  }
  let run = previous;
  if (run === null || run.runId !== w.runId || initial.tensors.length === 0) {
    run?.model.dispose();
    const data = new RankData({ train: sets.train, test: sets.test, shard: w.shard, hyper });
    const model = createGoogLeNet({ ...w.model, numClasses: 10 }, hyper.seed);
    const replica = new Replica(model, { momentum: hyper.momentum, nesterov: hyper.nesterov, weightDecay: hyper.weightDecay });
    const session = new ReplicaSession({
      replica,
      data,
      hyper,
      send: (message) => link.send(message),
      log,
      trace: { weights: o.config.traceWeights, samples: o.config.traceSamples, dumpDir: o.config.dumpDir },
      nanAtGlobalStep: o.config.faultNanAtStep,
      timeline: o.timeline ?? null,
    });
    run = { runId: w.runId, model, replica, data, session };
  } else {
    // Same run, new connection: messages now go out on this link.
    run.session.rebind({ send: (message) => link.send(message), log });
  }
  const { replica } = run;
  if (layoutElements(w.buckets) !== replica.layout.size) {
    throw new WorkerRunError(
      'WORKER_LAYOUT_MISMATCH',
      `welcome.buckets must cover this model's ${replica.layout.size} parameters, but cover ${layoutElements(w.buckets)}: the coordinator's model size disagrees with @gnet/model`,
    );
  }
  if (initial.tensors.length > 0) {
    const weights = new Float32Array(replica.layout.size);
    tensorsInto(initial.tensors, replica.layout.slots, weights, 'initialWeights.tensors');
    replica.setWeights(weights);
    const buffers = new Float32Array(replica.bufferLayout.size);
    tensorsInto(initial.tensors, replica.bufferLayout.slots, buffers, 'initialWeights.tensors');
    replica.writeBuffers(buffers);
    if (initial.momentum.length > 0) tensorsInto(initial.momentum, replica.layout.slots, replica.sgd.velocity, 'initialWeights.momentum');
    else replica.sgd.velocity.fill(0);
  }
  return run;
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

/** The next message, which must be `initialWeights` (it follows every `welcome`). */
async function nextOf(link: CoordinatorLink, signal: AbortSignal, type: 'initialWeights'): Promise<InitialWeights> {
  for (;;) {
    const message = await next(link, signal);
    if (message.type === type) return message;
    // A round aborted just before the welcome may still be queued; nothing else may come first.
    if (message.type === 'roundAbort' || message.type === 'roundStart') continue;
    throw new WorkerRunError('WORKER_PROTOCOL', `expected '${type}' from the coordinator, but got '${message.type}'`);
  }
}
