// What a checkpoint of a run holds besides tensors, and when it may continue a run. One layout and
// one policy for both modes: the coordinator and single-process training write the same `meta` and
// refuse a resume whose hyperparameters or model differ from the checkpoint's, naming each
// differing field (a silently changed recipe would make the run's figures meaningless).
import type { EpochMeterState } from './epoch_meter.js';
import type { EpochRecord } from './run_folder.js';

/** Where a checkpoint stands in the run: it trains `globalStep` next. */
export interface RunPosition {
  epoch: number;
  stepInEpoch: number;
  globalStep: number;
}

/** The `meta` of every checkpoint of a run (coordinator and single-process alike). */
export interface RunCheckpointMeta {
  runId: string;
  position: RunPosition;
  /** Records of the finished epochs, so metrics.jsonl is rewritten on resume without duplicates. */
  epochs: EpochRecord[];
  /** The training figures of the epoch so far (absent in checkpoints of older coordinators). */
  epochSoFar?: EpochMeterState;
  /** The run's hyperparameters as the writer names them. */
  hyper: unknown;
  /** The model's configuration. */
  model: unknown;
  /** Ranks of the group that wrote it (1 for single-process training). */
  worldSize: number;
}

/** Hyperparameters that may change on resume: the micro-batch follows the backends and memory, not the recipe. */
export const RESUMABLE_CHANGES: readonly string[] = ['microBatch'];

/**
 * Hyperparameters older versions wrote into every checkpoint and this one no longer has (the
 * recipe's strict schema cannot hold them): never a difference, since the user could not pass them
 * back. `evalEvery` was always 0 and left the wire with protocol 3.
 */
export const RETIRED_FIELDS: readonly string[] = ['evalEvery'];

/** A checkpoint cannot continue this run. */
export class ResumeMismatchError extends Error {
  readonly code = 'RESUME_MISMATCH';
  override readonly name = 'ResumeMismatchError';
  constructor(
    message: string,
    /** The differing fields, e.g. `hyper.lrPeak` (empty when the metadata itself is unusable). */
    readonly fields: readonly string[],
  ) {
    super(message);
  }
}

/** Dotted names of the fields whose JSON differs between `saved` and `now` (nested objects compared field by field). */
export function differingFields(saved: unknown, now: unknown, prefix: string, ignore: readonly string[] = []): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(saved) || !isObject(now)) return JSON.stringify(saved) === JSON.stringify(now) ? [] : [prefix];
  const keys = [...new Set([...Object.keys(saved), ...Object.keys(now)])].filter((k) => !ignore.includes(k)).sort();
  return keys.flatMap((k) => differingFields(saved[k], now[k], `${prefix}.${k}`));
}

/**
 * Checks that `meta` (from the checkpoint at `path`) can continue a run of `hyper` and `model`;
 * returns it typed. Throws `ResumeMismatchError` naming each differing field with both values.
 */
export function checkResumable(meta: unknown, now: { hyper: unknown; model: unknown }, path: string): RunCheckpointMeta {
  const m = meta as Partial<RunCheckpointMeta> | null;
  if (typeof m?.position?.globalStep !== 'number' || !Array.isArray(m.epochs) || typeof m.runId !== 'string') {
    throw new ResumeMismatchError(
      `${path} has no runId, position or epochs in its metadata: it was written by an older version, which this one cannot continue`,
      [],
    );
  }
  const fields = [
    ...differingFields(m.hyper, now.hyper, 'hyper', [...RESUMABLE_CHANGES, ...RETIRED_FIELDS]),
    ...differingFields(m.model, now.model, 'model'),
  ];
  if (fields.length > 0) {
    const valueAt = (root: unknown, field: string): string =>
      JSON.stringify(
        field
          .split('.')
          .slice(1)
          .reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], root),
      ) ?? 'absent';
    const roots = (field: string): [unknown, unknown] => (field.startsWith('hyper') ? [m.hyper, now.hyper] : [m.model, now.model]);
    const listed = fields.map((f) => `${f} (checkpoint ${valueAt(roots(f)[0], f)}, now ${valueAt(roots(f)[1], f)})`).join(', ');
    throw new ResumeMismatchError(`the settings differ from those of ${path} in ${listed}; pass the run's original settings`, fields);
  }
  return m as RunCheckpointMeta;
}
