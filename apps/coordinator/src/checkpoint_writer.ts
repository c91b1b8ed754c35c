// Writes a worker's `stateSnapshot` as the run's checkpoint (step 3 of coordinator.ts, the stop
// path of stop_checkpoint.ts and the below---min-workers save of recovery.ts): the meta that lets
// --resume continue the run (position, epoch records, hyperparameters, model, world size), the
// file through the run's CheckpointStore (which keeps the newest --keep-checkpoints), a log line
// and a `checkpoint` event for the dashboard.
import type { Logger } from 'pino';
import type { StateSnapshot } from '@gnet/protocol';
import type { CheckpointStore, RunCheckpointMeta } from '@gnet/run-store';
import type { RunRecords } from './run_machine_types.js';
import type { RunEvents } from './run_events.js';
import type { RunPlan } from './run_plan.js';
import { snapshotToCheckpoint } from './snapshot_checkpoint.js';

/** What a checkpoint needs of the generation that sent the snapshot. */
export interface CheckpointSource {
  plan: Pick<RunPlan, 'hyper' | 'model' | 'worldSize' | 'paramElements' | 'bufferElements'>;
}

/** Writes `snapshot` (the state that trains `globalStep` next) as checkpoints/ckpt-<globalStep>.ckpt; resolves with its path. */
export type WriteCheckpoint = (snapshot: StateSnapshot, source: CheckpointSource, globalStep: number) => Promise<string>;

/** Options of {@link checkpointWriter}. */
export interface CheckpointWriterOptions {
  runId: string;
  stepsPerEpoch: number;
  store: CheckpointStore;
  /** The run machine's records at the moment of writing (finished epochs, the epoch so far). */
  records: () => RunRecords;
  log: Logger;
  events: RunEvents;
  now: () => number;
}

/** The meta of a checkpoint of the state that trains `globalStep` next. */
export function checkpointMeta(
  runId: string,
  globalStep: number,
  stepsPerEpoch: number,
  records: RunRecords,
  plan: CheckpointSource['plan'],
): RunCheckpointMeta {
  return {
    runId,
    position: { epoch: Math.floor(globalStep / stepsPerEpoch), stepInEpoch: globalStep % stepsPerEpoch, globalStep },
    epochs: records.epochs,
    epochSoFar: records.epochSoFar,
    hyper: plan.hyper,
    model: plan.model,
    worldSize: plan.worldSize,
  };
}

/** The run's {@link WriteCheckpoint}. */
export function checkpointWriter(options: CheckpointWriterOptions): WriteCheckpoint {
  const { runId, stepsPerEpoch, store, log, events } = options;
  return async (snapshot, source, globalStep) => {
    const meta = checkpointMeta(runId, globalStep, stepsPerEpoch, options.records(), source.plan);
    const saved = await store.save(snapshotToCheckpoint(snapshot, source.plan, meta as unknown as Record<string, unknown>), globalStep);
    log.info({ globalStep, path: saved.path, removed: saved.removed.length }, 'checkpoint written');
    events.emit({ kind: 'checkpoint', atMs: options.now(), globalStep, path: saved.path });
    return saved.path;
  };
}
