// Public API of @gnet/run-store: what a run leaves on disk, with no tensor library, so the
// coordinator (which never loads tfjs) and single-node training write the same folder.
export type { ParamSlot } from './param_slot.js';
export { CheckpointError, assertSlotsMatch, loadCheckpoint, saveCheckpoint, type CheckpointState } from './checkpoint.js';
export {
  CheckpointStore,
  DEFAULT_KEEP_CHECKPOINTS,
  NoGoodCheckpointError,
  type CheckpointWarnLog,
  type LoadedCheckpoint,
} from './checkpoint_store.js';
export { RunFolder, type EpochRecord, type TestRecord } from './run_folder.js';
export { confusionFromRowMajor, ReportError } from './confusion_matrix.js';
export type { WrittenReport } from './report.js';
export { learningRateAt, type LrSchedule } from './lr_schedule.js';
export { EpochMeter, type EpochMeterState } from './epoch_meter.js';
export { epochLogFields, epochRecord, perClassAccuracy, testRecord, type TrainingEpochRecord } from './records.js';
export { checkResumable, ResumeMismatchError, type RunCheckpointMeta, type RunPosition } from './resume_policy.js';
