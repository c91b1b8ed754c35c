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
// What to do with each message is decided by worker_machine.ts (pure, unit-tested); steps 2-3 run
// in generation_setup.ts and steps 3-6 in replica_session.ts, which return their replies;
// link_executor.ts performs the decisions on one connection (the ring, one abort signal per round
// (round_signal.ts), sending); this file owns the process: the ring listener, the data, dialing
// and rejoining.
import { cpus, totalmem } from 'node:os';
import type { Logger } from 'pino';
import { readCifar10, type CifarSet } from '@gnet/data';
import { PROTOCOL_VERSION } from '@gnet/protocol';
import { listenFailure, WsPeerListener } from '@gnet/collective';
import { CoordinatorLink, type HelloFields } from './coordinator_link.js';
import { LinkExecutor } from './link_executor.js';
import { canRejoin } from './rejoin_policy.js';
import type { RunState } from './run_state.js';
import type { ServeConfig } from './serve_config.js';
import type { Timeline } from './timeline.js';
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

function describeDevice(): string {
  const cpu = cpus();
  return `${cpu.length}x ${cpu[0]?.model.trim() ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB`.slice(0, 256);
}

/**
 * The run state a failed `serveLink` leaves behind, kept beside its error (not on it: an error is
 * logged, and a model with its weights must never reach the log serializer).
 */
const runOfError = new WeakMap<object, RunState | null>();

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
 * (thrown; the run state is kept in `runOfError` so a rejoin keeps the model). The loop: next
 * message → the machine's decision → the executor performs it (link_executor.ts).
 */
async function serveLink(
  link: CoordinatorLink,
  options: DistributedWorkerOptions,
  listener: WsPeerListener,
  dataPromise: Promise<[CifarSet, CifarSet]>,
  previous: RunState | null,
): Promise<{ run: RunState | null; outcome: Omit<WorkerOutcome, 'rejoins'> | null }> {
  // Heartbeats start with the welcome, before the data finishes loading: the coordinator's
  // silence clock starts when it sends the welcome, and reading CIFAR-10 on a loaded machine can
  // take longer than a short --worker-timeout-ms (the files are read one by one, so beats go out).
  link.startHeartbeat(link.welcome.heartbeatMs);
  const [train, test] = await dataPromise;
  const executor = new LinkExecutor({
    link,
    config: options.config,
    backend: options.backend,
    listener,
    sets: { train, test },
    run: previous,
    log: options.log,
    signal: options.signal,
    timeline: options.timeline ?? null,
  });
  try {
    for (;;) {
      const finished = await executor.perform(executor.decide(await executor.next()));
      if (finished !== null) return { run: executor.run, outcome: finished };
    }
  } catch (caught) {
    const err = await executor.fail(caught);
    if (err instanceof Error) runOfError.set(err, executor.run);
    throw err;
  } finally {
    executor.dispose();
  }
}
