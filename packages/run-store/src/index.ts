// Public API of @gnet/run-store: what a run leaves on disk, with no tensor library, so the
// coordinator (which never loads tfjs) and single-node training write the same folder.
export type { ParamSlot } from './param_slot.js';
export {
  CHECKPOINT_FORMAT_VERSION,
  CheckpointError,
  assertSlotsMatch,
  type CheckpointErrorCode,
  decodeCheckpoint,
  encodeCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
  type CheckpointState,
} from './checkpoint.js';
export {
  CheckpointStore,
  DEFAULT_KEEP_CHECKPOINTS,
  NoGoodCheckpointError,
  type CheckpointEntry,
  type CheckpointWarnLog,
  type LoadedCheckpoint,
  type SavedCheckpoint,
  type SkippedCheckpoint,
} from './checkpoint_store.js';
export { renderChartSvg, writeChartPng, type EpochPoint } from './chart.js';
export { RunFolder, type EpochRecord, type TestRecord } from './run_folder.js';
export { RunStoreWriteError, type RunStoreWriteErrorCode } from './write_error.js';
export {
  checkConfusion,
  classFigures,
  confusionCsv,
  confusionFromRowMajor,
  confusionTotals,
  ReportError,
  type ClassFigures,
  type ConfusionMatrix,
  type ReportErrorCode,
} from './confusion_matrix.js';
export { renderConfusionSvg, writeConfusionPng } from './confusion_chart.js';
export { reportMarkdown, writeRunReport, type RunReport, type WrittenReport } from './report.js';
export { learningRateAt, type LrSchedule } from './lr_schedule.js';
export { EpochMeter, type EpochMeterState, type EpochTraining, type StepPhasesMs, type StepReport } from './epoch_meter.js';
export { epochLogFields, epochRecord, perClassAccuracy, testRecord, type EvaluationSums, type TrainingEpochRecord } from './records.js';
export {
  checkResumable,
  differingFields,
  RESUMABLE_CHANGES,
  ResumeMismatchError,
  type RunCheckpointMeta,
  type RunPosition,
} from './resume_policy.js';
