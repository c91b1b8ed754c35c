// The run a worker trains in: its model, data and session outlive generations and reconnects.
// `prepareRun` gives each generation its state: the same run keeps its model (loading the sent
// state, if any); a new run (another `runId`, e.g. a coordinator started afresh) gets a new model.
import type { Logger } from 'pino';
import type { CifarSet } from '@gnet/data';
import { createGoogLeNet, type GoogLeNet } from '@gnet/model';
import type { InitialWeights, Welcome } from '@gnet/protocol';
import { layoutElements } from '@gnet/collective';
import { maxMicroBatch, Replica, type BackendName } from '@gnet/training';
import { RankData } from './rank_data.js';
import { ReplicaSession } from './replica_session.js';
import type { ServeConfig } from './serve_config.js';
import type { Timeline } from './timeline.js';
import { tensorsInto } from './wire_state.js';
import { WorkerRunError } from './worker_run_error.js';

/** The run this worker trains in. */
export interface RunState {
  runId: string;
  model: GoogLeNet;
  replica: Replica;
  data: RankData;
  session: ReplicaSession;
}

/** What {@link prepareRun} needs besides the generation's messages. */
export interface RunContext {
  /** The `serve` flags a run's session reads. */
  config: Pick<ServeConfig, 'traceWeights' | 'traceSamples' | 'dumpDir' | 'faultNanAtStep'>;
  /** The backend selected at start-up. */
  backend: string;
  sets: { train: CifarSet; test: CifarSet };
  log: Logger;
  timeline: Timeline | null;
}

/**
 * The run state for the generation of `welcome` and `initial`: `previous` when it is the same run
 * (with the sent state loaded), else a new model from `hyper.seed`. Throws `WorkerRunError`
 * (`WORKER_MICRO_BATCH`, `WORKER_LAYOUT_MISMATCH`) when the coordinator's plan does not fit this
 * worker, `ShardMismatchError` when the data on disk is not the coordinator's split.
 */
export function prepareRun(previous: RunState | null, welcome: Welcome, initial: InitialWeights, context: RunContext): RunState {
  const { hyper } = welcome;
  const { config, backend, log } = context;
  const microBatchCap = maxMicroBatch(backend as BackendName, welcome.model.width);
  if (hyper.microBatch > microBatchCap) {
    throw new WorkerRunError(
      'WORKER_MICRO_BATCH',
      `welcome.hyper.microBatch must be at most ${microBatchCap} on ${backend} at width ${welcome.model.width}, but got ${hyper.microBatch}: the coordinator's wasm budget disagrees with @gnet/training`,
    );
  }
  let run = previous;
  if (run === null || run.runId !== welcome.runId || initial.tensors.length === 0) {
    run?.model.dispose();
    const data = new RankData({ train: context.sets.train, test: context.sets.test, shard: welcome.shard, hyper });
    const model = createGoogLeNet({ ...welcome.model, numClasses: 10 }, hyper.seed);
    const replica = new Replica(model, { momentum: hyper.momentum, nesterov: hyper.nesterov, weightDecay: hyper.weightDecay });
    const session = new ReplicaSession({
      replica,
      data,
      hyper,
      log,
      trace: { weights: config.traceWeights, samples: config.traceSamples, dumpDir: config.dumpDir },
      nanAtGlobalStep: config.faultNanAtStep,
      timeline: context.timeline,
    });
    run = { runId: welcome.runId, model, replica, data, session };
  } else {
    // Same run, maybe a new connection: logs carry this generation's rank.
    run.session.rebind(log);
  }
  const { replica } = run;
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
    else replica.sgd.velocity.fill(0);
  }
  return run;
}
