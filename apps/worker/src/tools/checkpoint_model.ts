// A trained GoogLeNet from a checkpoint file (@gnet/run-store's format): the model config from
// the checkpoint's meta, then the weights and BatchNorm running statistics by slot.
//
// Two writers put different meta in the same format:
//   single-node (packages/training single_node_run.ts): meta.model is the run's model description,
//     `{ name, width, auxHeads, batchNorm, numClasses, dropout, auxDropout, backend }`, meta.hp;
//   coordinator (apps/coordinator coordinator.ts): meta.model is the protocol's ModelConfig,
//     `{ width, auxHeads, batchNorm, dropout, auxDropout }` (no numClasses: runs are CIFAR-10),
//     meta.hyper, meta.worldSize, meta.runId.
// Both write `meta.position` and slots named by @gnet/model's parameter names in its order.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createGoogLeNet,
  defaultGoogLeNetConfig,
  ModelConfigError,
  resolveGoogLeNetConfig,
  type GoogLeNet,
  type GoogLeNetConfig,
} from '@gnet/model';
import {
  assertSlotsMatch,
  CheckpointError,
  CheckpointStore,
  loadCheckpoint,
  type CheckpointState,
  type CheckpointWarnLog,
} from '@gnet/run-store';
import { ParamLayout } from '@gnet/training';
import { CheckpointModelError } from './tool_errors.js';

/** Which program wrote the checkpoint, judged from its meta. */
export type CheckpointWriter = 'single-node' | 'coordinator';

/** Where in training the checkpoint was taken (`epoch` is the next epoch to run). */
export interface CheckpointPosition {
  readonly epoch: number;
  readonly stepInEpoch: number;
  readonly globalStep: number;
}

/** A restored model and what its checkpoint says about itself. */
export interface CheckpointModel {
  /** The checkpoint file it came from. */
  readonly path: string;
  /** Every variable of the checkpoint (auxiliary heads too, when it has them). Dispose when done. */
  readonly model: GoogLeNet;
  /** The deployable view of `model`: no auxiliary heads, BatchNorm on running statistics. */
  readonly inference: GoogLeNet;
  readonly config: Readonly<GoogLeNetConfig>;
  readonly writer: CheckpointWriter;
  readonly position: CheckpointPosition | null;
  /** Workers of the run (coordinator checkpoints only). */
  readonly worldSize: number | null;
}

/** Config fields a checkpoint must state: defaulting them would build another network. */
const REQUIRED: readonly (keyof GoogLeNetConfig)[] = ['width', 'auxHeads', 'batchNorm'];
const CONFIG_KEYS = Object.keys(defaultGoogLeNetConfig) as (keyof GoogLeNetConfig)[];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The GoogLeNet config stated by a checkpoint's meta (either writer). Descriptive keys of the
 * single-node description (`name`, `backend`) are ignored; `numClasses` defaults to 10 because
 * the coordinator's ModelConfig leaves it out (its runs are CIFAR-10 only).
 *
 * @throws CheckpointModelError naming `source` when meta.model is missing, lacks a required field,
 *   or holds a value @gnet/model refuses.
 */
export function modelConfigFromMeta(meta: Record<string, unknown>, source: string): Readonly<GoogLeNetConfig> {
  const stated = meta['model'];
  if (!isObject(stated)) {
    throw new CheckpointModelError(
      `${source} must hold the model config in meta.model, but meta.model is ${JSON.stringify(stated) ?? 'undefined'}`,
    );
  }
  const missing = REQUIRED.filter((key) => !(key in stated));
  if (missing.length > 0) {
    throw new CheckpointModelError(`${source} meta.model must state ${REQUIRED.join(', ')}, but lacks ${missing.join(', ')}`);
  }
  const picked: Record<string, unknown> = { numClasses: 10 };
  for (const key of CONFIG_KEYS) if (key in stated) picked[key] = stated[key];
  try {
    return resolveGoogLeNetConfig(picked as Partial<GoogLeNetConfig>, 'modelConfigFromMeta');
  } catch (err) {
    if (err instanceof ModelConfigError)
      throw new CheckpointModelError(`${source} meta.model is not a valid GoogLeNet config: ${err.message}`, { cause: err });
    throw err;
  }
}

function positionOf(meta: Record<string, unknown>): CheckpointPosition | null {
  const position = meta['position'];
  if (!isObject(position)) return null;
  const { epoch, stepInEpoch, globalStep } = position;
  return typeof epoch === 'number' && typeof stepInEpoch === 'number' && typeof globalStep === 'number'
    ? { epoch, stepInEpoch, globalStep }
    : null;
}

/**
 * Builds the checkpoint's GoogLeNet and loads its weights and BatchNorm statistics.
 *
 * @throws CheckpointModelError when meta has no usable config.
 * @throws CheckpointError (`CKPT_INCOMPATIBLE`) when the slots do not match the config's model.
 */
export function restoreCheckpointModel(state: CheckpointState, source: string): CheckpointModel {
  const config = modelConfigFromMeta(state.meta, source);
  // The seed does not matter: every variable is overwritten from the checkpoint.
  const model = createGoogLeNet(config, 0);
  try {
    const weights = ParamLayout.of(model.params);
    const buffers = ParamLayout.of(model.buffers);
    assertSlotsMatch('weights', weights.slots, state.weightSlots, source);
    assertSlotsMatch('buffers', buffers.slots, state.bufferSlots, source);
    weights.write(model.params, state.weights);
    buffers.write(model.buffers, state.buffers);
  } catch (err) {
    model.dispose();
    throw err;
  }
  const worldSize = state.meta['worldSize'];
  return {
    path: source,
    model,
    inference: model.inference(),
    config,
    writer: 'hyper' in state.meta || typeof worldSize === 'number' ? 'coordinator' : 'single-node',
    position: positionOf(state.meta),
    worldSize: typeof worldSize === 'number' ? worldSize : null,
  };
}

/**
 * The checkpoint at `path`: a checkpoint file, or a folder (a run folder, or its `checkpoints/`)
 * whose newest checkpoint that verifies is taken (CheckpointStore.loadLatestGood, which warns on
 * `log` about each newer one it skips).
 *
 * @throws CheckpointError `CKPT_NOT_FOUND` for a missing file or a folder without checkpoints;
 *   `CKPT_CORRUPT`, `CKPT_NONE_GOOD`, ... as @gnet/run-store reports them.
 */
export async function readCheckpoint(path: string, log?: CheckpointWarnLog): Promise<{ state: CheckpointState; path: string }> {
  const isDir = async (p: string): Promise<boolean> => (await stat(p).catch(() => null))?.isDirectory() === true;
  if (!(await isDir(path))) return { state: await loadCheckpoint(path), path };
  const dir = (await isDir(join(path, 'checkpoints'))) ? join(path, 'checkpoints') : path;
  const loaded = await new CheckpointStore(dir).loadLatestGood(log);
  if (loaded === null)
    throw new CheckpointError('CKPT_NOT_FOUND', `${path} is a folder without checkpoints: expected ckpt-<step>.ckpt files in ${dir}`);
  return { state: loaded.state, path: loaded.path };
}

/** {@link readCheckpoint} (SHA-256 checked) then {@link restoreCheckpointModel}. */
export async function loadCheckpointModel(path: string, log?: CheckpointWarnLog): Promise<CheckpointModel> {
  const found = await readCheckpoint(path, log);
  return restoreCheckpointModel(found.state, found.path);
}

/** One line for people: `GoogLeNet width 0.125, BatchNorm, aux heads (not used), 10 classes`. */
export function describeModel(config: Readonly<GoogLeNetConfig>): string {
  const parts = [`GoogLeNet width ${config.width}`, config.batchNorm ? 'BatchNorm' : 'no BatchNorm'];
  if (config.auxHeads) parts.push('aux heads (not used)');
  parts.push(`${config.numClasses} classes`);
  return parts.join(', ');
}
