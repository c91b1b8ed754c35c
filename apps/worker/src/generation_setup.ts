// Steps 2-3 of distributed_worker.ts for one generation, apart from the connection to the
// coordinator: the run state (build GoogLeNet from `hyper.seed` or load the sent state; check the
// bucket layout and the data split), this generation's transport (the ring, or the coordinator's
// star), the group it gives the replica session, and the weights check whose outcome is the reply
// (`ready`, `roundFailed`, or nothing when the round was aborted). The executor sends the reply;
// generation_setup.test.ts runs two ranks of it over the in-memory transport, without processes.
import type { Logger } from 'pino';
import type { InitialWeights, Ready, RoundFailed, Welcome } from '@gnet/protocol';
import { createBucketAllReduce, GradientReducer, type BucketAllReduce, type Transport } from '@gnet/collective';
import { prepareRun, type RunContext, type RunState } from './run_state.js';

/**
 * The run state of the generation of `welcome` and `initial` (see `prepareRun`), logged as
 * `welcome`. Throws `WorkerRunError` (`WORKER_MICRO_BATCH`, `WORKER_LAYOUT_MISMATCH`) when the
 * coordinator's plan does not fit this worker, `ShardMismatchError` when the data on disk is not
 * the coordinator's split, `RangeError` when the sent state does not fit the model.
 */
export function prepareGeneration(previous: RunState | null, welcome: Welcome, initial: InitialWeights, context: RunContext): RunState {
  const run = prepareRun(previous, welcome, initial, context);
  context.log.info(
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
  return run;
}

/** Options of {@link joinGeneration}. */
export interface JoinGenerationOptions {
  run: RunState;
  welcome: Welcome;
  initial: InitialWeights;
  /** This generation's transport: the ring (dial rank + 1, accept rank - 1) or the coordinator connection (star). */
  openTransport: () => Promise<Transport>;
  /** Called as soon as the transport is open, before the weights check: the executor owns it from then on (and closes it). */
  onTransportOpen: (transport: Transport) => void;
  /** The abort signal of the weights check's round (`initial.round`). */
  signal: AbortSignal;
  /** Bound on each all-reduce send and receive (`--collective-timeout-ms`). */
  collectiveTimeoutMs: number;
  log: Logger;
}

/**
 * Opens the generation's transport, gives the replica session its group, and runs the weights
 * check in round `initial.round`. Resolves with the reply to send: `ready`; `roundFailed` when
 * the transport could not be opened or the check's all-reduce failed (the coordinator re-forms
 * the group); null when the round was aborted. Throws `WorkerRunError` `WORKER_WEIGHTS_DIFFER`
 * when another rank holds other weights (the run cannot go on: replicas would drift apart).
 */
export async function joinGeneration(options: JoinGenerationOptions): Promise<Ready | RoundFailed | null> {
  const { run, welcome, initial, signal } = options;
  const { replica, session, data } = run;
  let transport: Transport;
  try {
    transport = await options.openTransport();
  } catch (err) {
    return session.roundFailed(initial.round, err, signal, 'opening the ring');
  }
  options.onTransportOpen(transport);
  const algorithm = (wireDtype: 'float32' | null): BucketAllReduce =>
    createBucketAllReduce({
      config: wireDtype === null ? welcome.allReduce : { ...welcome.allReduce, wireDtype },
      transport,
      rank: welcome.rank,
      worldSize: welcome.worldSize,
      timeoutMs: options.collectiveTimeoutMs,
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
  let digest: string;
  try {
    digest = await session.checkInitialWeights(initial.round, signal);
  } catch (err) {
    // Rethrows what is not a collective failure (WORKER_WEIGHTS_DIFFER among them).
    return session.roundFailed(initial.round, err, signal, 'weights check');
  }
  options.log.info(
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
  return { type: 'ready', generation: welcome.generation };
}
