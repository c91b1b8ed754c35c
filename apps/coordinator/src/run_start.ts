// Where a coordinator run starts (step 1 of coordinator.ts): a fresh run folder at global step 0,
// or with --resume the folder's newest good checkpoint (a corrupt newest one is skipped with a
// warning), refused with a `ConfigError` when it cannot continue this run.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import {
  checkResumable,
  ResumeMismatchError,
  type CheckpointStore,
  type EpochRecord,
  type RunCheckpointMeta,
  type RunFolder,
} from '@gnet/run-store';
import { ConfigError, type CoordinatorConfig } from './coordinator_config.js';
import type { StartState } from './generation.js';
import type { RunPlan } from './run_plan.js';
import { checkpointToStart } from './snapshot_checkpoint.js';

/** The run's identity, first state and records so far. */
export interface RunStartingPoint {
  runId: string;
  state: StartState;
  epochs: EpochRecord[];
  /** The checkpoint's figures of the epoch in progress (null on a fresh run). */
  epochSoFar: unknown;
}

/** Initialises the run folder (fresh run) or loads the checkpoint to resume from (`cfg.resume`). */
export async function startingPoint(
  cfg: CoordinatorConfig,
  plan: RunPlan,
  folder: RunFolder,
  store: CheckpointStore,
  log: Logger,
): Promise<RunStartingPoint> {
  if (!cfg.resume) {
    const runId = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(2).toString('hex')}`;
    const { token: _token, ...shownConfig } = cfg;
    await folder.init({ config: shownConfig, runId, plan: { ...plan, buckets: plan.buckets.length } });
    return { runId, state: { globalStep: 0, tensors: [], momentum: [] }, epochs: [], epochSoFar: null };
  }
  const loaded = await store.loadLatestGood(log);
  if (loaded === null) throw new ConfigError(`--resume: ${store.dir} holds no checkpoint to resume from; start without --resume`);
  const meta = resumableMeta(loaded.state.meta, plan, loaded.path);
  const state = checkpointToStart(loaded.state, meta.position.globalStep);
  log.info(
    {
      checkpoint: loaded.path,
      skipped: loaded.skipped.map((s) => s.path),
      globalStep: state.globalStep,
      epoch: meta.position.epoch,
      runId: meta.runId,
    },
    'resuming from checkpoint',
  );
  return { runId: meta.runId, state, epochs: meta.epochs, epochSoFar: meta.epochSoFar };
}

/**
 * The checkpoint's metadata, if it can continue this run (the policy single-process training shares); else a `ConfigError` naming the
 * differing settings.
 */
function resumableMeta(meta: unknown, plan: RunPlan, path: string): RunCheckpointMeta {
  try {
    return checkResumable(meta, { hyper: plan.hyper, model: plan.model }, path);
  } catch (err) {
    if (err instanceof ResumeMismatchError) throw new ConfigError(`--resume: ${err.message}`);
    throw err;
  }
}
