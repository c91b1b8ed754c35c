// One worker of a data-parallel run, from `hello` to `leave`. The round protocol, worker side
// (the coordinator's view is in apps/coordinator/src/coordinator.ts):
//
//  1. Open the ring listener, dial the coordinator and send `hello` (with the backend chosen at
//     start-up); wait for `welcome` (rank, hyperparameters, model, shard plan, buckets, all-reduce
//     settings, peers) and `initialWeights`.
//  2. Build GoogLeNet from `hyper.seed` (or load the sent tensors), check the bucket layout covers
//     its parameters exactly, check the data on disk is the coordinator's split, open the ring
//     (dial rank + 1, accept rank - 1) or use the coordinator connection as the star.
//  3. Round 0: all-reduce the SHA-256 of the initial weights and stop unless every rank has ours;
//     then send `ready`.
//  4. `roundStart`: this rank's batch of the epoch's permutation → forward/backward in
//     micro-batches with lossScale 1 / globalBatch → bucketed all-reduce (a sum, so the result is
//     the global mean gradient, bit-identical on every rank) → the same SGD update as every other
//     replica → `metrics`.
//  5. `evalRequest`: if the weights changed since the last evaluation, average the BatchNorm
//     running statistics across ranks (one float32 all-reduce round, the round after the last
//     one seen), then evaluate the shard and send `evalResult` (sums).
//  6. `checkpointRequest` (rank 0): send the full state as `stateSnapshot`.
//  7. `leave` (finished): close and exit 0. A lost coordinator or peer, `roundAbort` or `leave`
//     (shutdown) fails the worker at once (no waiting out timeouts); re-joining is issue 4.
// Steps 3-6 run in replica_session.ts; this file owns the connections and the message loop.
import { cpus, totalmem } from 'node:os';
import type { Logger } from 'pino';
import { readCifar10 } from '@gnet/data';
import { createGoogLeNet } from '@gnet/model';
import { PROTOCOL_VERSION, type Hello, type InitialWeights, type Message, type MessageOf, type MessageType } from '@gnet/protocol';
import {
  connectRing,
  createBucketAllReduce,
  GradientReducer,
  layoutElements,
  WsPeerListener,
  type BucketAllReduce,
  type Transport,
} from '@gnet/collective';
import { maxMicroBatch, Replica, type BackendName } from '@gnet/training';
import { CoordinatorLink } from './coordinator_link.js';
import { RankData } from './rank_data.js';
import { ReplicaSession } from './replica_session.js';
import type { ServeConfig } from './serve_config.js';
import { tensorsInto } from './wire_state.js';
import { WorkerRunError } from './worker_run_error.js';

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
}

/** How the run ended for this worker. */
export interface WorkerOutcome {
  rank: number;
  steps: number;
  message: string;
}

function describeDevice(): string {
  const cpu = cpus();
  return `${cpu.length}x ${cpu[0]?.model.trim() ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB`.slice(0, 256);
}

/** Runs one worker of the run; see the steps at the top of this file. */
export async function runDistributedWorker(o: DistributedWorkerOptions): Promise<WorkerOutcome> {
  const { config: cfg } = o;
  // 1. Listener, hello, welcome.
  const listener = await WsPeerListener.listen({ host: cfg.peerHost, port: cfg.peerPort, token: cfg.token });
  const dataPromise = Promise.all([readCifar10(o.dataDir, 'train'), readCifar10(o.dataDir, 'test')]);
  dataPromise.catch(() => undefined);
  const hello: Hello = {
    type: 'hello',
    protocolVersion: PROTOCOL_VERSION,
    token: cfg.token,
    workerId: cfg.workerId,
    backend: o.backend,
    device: describeDevice(),
    peer: { host: cfg.advertiseHost, port: listener.port },
  };
  let link: CoordinatorLink;
  try {
    link = await CoordinatorLink.connect({
      url: cfg.coordinator,
      hello,
      connectTimeoutMs: cfg.connectTimeoutMs,
      joinTimeoutMs: cfg.joinTimeoutMs,
      silenceTimeoutMs: cfg.coordinatorTimeoutMs,
      log: o.log,
    });
  } catch (err) {
    await listener.close();
    throw err;
  }
  const { welcome } = link;
  const { rank, worldSize, hyper } = welcome;
  const log = o.log.child({ rank, workerId: cfg.workerId });
  link.startHeartbeat(welcome.heartbeatMs);
  log.info({ worldSize, runId: welcome.runId, algorithm: welcome.allReduce.algorithm, hyper, model: welcome.model, buckets: welcome.buckets.length }, 'welcome');
  // Everything from here on stops at once when the coordinator goes away or aborts.
  const stop = new AbortController();
  link.onFailure((err) => stop.abort(err));
  const onShutdown = (): void => {
    const why = `shutting down: ${String(o.signal?.reason ?? 'signal')}`;
    link.send({ type: 'leave', reason: 'shutdown', message: why });
    stop.abort(new WorkerRunError('WORKER_ABORTED', why));
  };
  if (o.signal?.aborted === true) onShutdown();
  else o.signal?.addEventListener('abort', onShutdown, { once: true });
  let transport: Transport | null = null;
  try {
    const initial = (await expect(link, 'initialWeights')) as InitialWeights;

    // 2. Model, data, connections.
    const [train, test] = await dataPromise;
    const data = new RankData({ train, test, shard: welcome.shard, hyper, rank, worldSize });
    const model = createGoogLeNet({ ...welcome.model, numClasses: 10 }, hyper.seed);
    const replica = new Replica(model, { momentum: hyper.momentum, nesterov: hyper.nesterov, weightDecay: hyper.weightDecay });
    const microBatchCap = maxMicroBatch(o.backend as BackendName, welcome.model.width);
    if (hyper.microBatch > microBatchCap) {
      throw new WorkerRunError(
        'WORKER_MICRO_BATCH',
        `welcome.hyper.microBatch must be at most ${microBatchCap} on ${o.backend} at width ${welcome.model.width}, but got ${hyper.microBatch}: the coordinator's wasm budget disagrees with @gnet/training`,
      );
    }
    if (layoutElements(welcome.buckets) !== replica.layout.size) {
      throw new WorkerRunError(
        'WORKER_LAYOUT_MISMATCH',
        `welcome.buckets must cover this model's ${replica.layout.size} parameters, but cover ${layoutElements(welcome.buckets)}: the coordinator's model size disagrees with @gnet/model`,
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
    }
    if (welcome.allReduce.algorithm === 'ring') {
      transport = await connectRing({
        listener,
        rank,
        worldSize,
        runId: welcome.runId,
        generation: welcome.generation,
        peers: welcome.peers,
        token: cfg.token,
        timeoutMs: cfg.connectTimeoutMs,
      });
    } else {
      transport = link.transport;
    }
    await listener.close();
    const algorithm = (wireDtype: 'float32' | null): BucketAllReduce =>
      createBucketAllReduce({
        config: wireDtype === null ? welcome.allReduce : { ...welcome.allReduce, wireDtype },
        transport: transport!,
        rank,
        worldSize,
        timeoutMs: cfg.collectiveTimeoutMs,
      });
    const reducer = new GradientReducer({ algorithm: algorithm(null), buckets: welcome.buckets });
    // Weights checks and BatchNorm statistics are always exact float32, whatever the gradients use.
    const exact = algorithm('float32');
    const allReduceVector = (values: Float32Array, round: number): Promise<void> =>
      exact.reduceBucket(values, { bucket: 0, offset: 0, length: values.length }, { round, signal: stop.signal });
    link.onFailure((err) => reducer.abort(err.message));
    stop.signal.addEventListener('abort', () => reducer.abort(stop.signal.reason instanceof Error ? stop.signal.reason.message : 'stopped'), { once: true });
    link.onUrgent = (message: Message) => {
      const why =
        message.type === 'roundAbort'
          ? `the coordinator aborted round ${message.round}: ${message.reason}`
          : message.type === 'leave'
            ? `the coordinator ended the run (${message.reason})${message.message === '' ? '' : `: ${message.message}`}`
            : message.type === 'error'
              ? `the coordinator reported ${message.code}: ${message.message}`
              : '';
      if (why === '' || (message.type === 'leave' && message.reason === 'finished')) return;
      reducer.abort(why);
      stop.abort(new WorkerRunError('WORKER_ABORTED', why));
    };

    // 3-6. The replica's work between messages (replica_session.ts); round 0 first.
    const session = new ReplicaSession({
      replica,
      data,
      hyper,
      rank,
      worldSize,
      reducer,
      allReduceVector,
      send: (message) => link.send(message),
      log,
      trace: { weights: cfg.traceWeights, samples: cfg.traceSamples, dumpDir: cfg.dumpDir },
    });
    const digest = await session.checkInitialWeights();
    log.info({ weightsSha256: digest, params: replica.layout.size, buffers: replica.bufferLayout.size, microBatch: hyper.microBatch, stepsPerEpoch: data.stepsPerEpoch }, 'initial weights checked');
    link.send({ type: 'ready', generation: welcome.generation });

    // 7. The loop, until `leave`.
    for (;;) {
      const message = await next(link, stop.signal);
      switch (message.type) {
        case 'roundStart':
          await session.trainStep(message);
          break;
        case 'evalRequest':
          await session.evaluate(message);
          break;
        case 'checkpointRequest':
          session.snapshot(message);
          break;
        case 'leave': {
          if (message.reason !== 'finished') throw new WorkerRunError('WORKER_ABORTED', `the coordinator ended the run (${message.reason}): ${message.message}`);
          const weightsSha256 = await session.finish();
          log.info({ steps: session.steps, weightsSha256, message: message.message }, 'run finished');
          await link.close(1000, 'finished');
          if (transport !== link.transport) await transport.close(1000, 'finished');
          return { rank, steps: session.steps, message: message.message };
        }
        case 'roundAbort':
          throw new WorkerRunError('WORKER_ABORTED', `the coordinator aborted round ${message.round}: ${message.reason}`);
        case 'error':
          throw new WorkerRunError('WORKER_PROTOCOL', `the coordinator reported ${message.code}: ${message.message}`);
        default:
          throw new WorkerRunError('WORKER_PROTOCOL', `unexpected '${message.type}' from the coordinator between rounds`);
      }
    }
  } catch (err) {
    // The error explains itself in the coordinator's log too: close with it as the reason.
    const reason = (err instanceof Error ? err.message : String(err)).slice(0, 120);
    await listener.close();
    if (transport !== null && transport !== link.transport) await transport.close(1011, reason).catch(() => undefined);
    await link.close(1011, reason).catch(() => undefined);
    throw err;
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

/** The next message, which must be of `type`. */
async function expect<K extends MessageType>(link: CoordinatorLink, type: K): Promise<MessageOf<K>> {
  const message = await link.next();
  if (message.type !== type) throw new WorkerRunError('WORKER_PROTOCOL', `expected '${type}' from the coordinator, but got '${message.type}'`);
  return message as MessageOf<K>;
}
