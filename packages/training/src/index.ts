// Public API of @gnet/training.
// The schedule lives in @gnet/run-store so the tfjs-free coordinator can drive it; re-exported here.
export { learningRateAt, type LrSchedule } from '@gnet/run-store';
export { ParamLayout, ParamLayoutError, type NamedTensorVariable, type ParamSlot } from './param_layout.js';
export { Sgd, SgdError, type SgdOptions } from './sgd.js';
export { crossEntropySum, correctCount } from './loss.js';
export {
  accumulateGradients,
  accumulateGradientsYielding,
  GradientError,
  type GradientOptions,
  type GradientStats,
  type LocalBatch,
} from './gradients.js';
export { addEvalSums, emptyEvalSums, evaluateImages, type EvalSums } from './evaluate.js';
export { Replica } from './replica.js';
export {
  DEFAULT_MAX_SKIPPED_STEPS,
  identityReduce,
  StepRunner,
  TooManySkippedStepsError,
  type GradientReduce,
  type StepOptions,
  type StepPosition,
  type StepResult,
  type StepRunnerOptions,
  type StepTimes,
} from './step_runner.js';
export { augmentationSeed, dropoutSeed, GlobalBatches, type GlobalBatchesOptions } from './global_batches.js';
export type { TrainableModel } from './trainable_model.js';
export { runSingleNode, type PhaseTimeline, type SingleNodeResult, type SingleNodeRunOptions } from './single_node_run.js';
export {
  BadThreadCountError,
  selectBackend,
  type BackendName,
  type BackendSelection,
  type SelectBackendOptions,
} from './backend/select_backend.js';
export { BackendUnavailableError, UnknownBackendError, type RequestedBackend } from './backend/backend_errors.js';
export { NATIVE_PACKAGES, type NativeAttempt, type NativePackage } from './backend/native_backend.js';
export {
  TRAINING_KERNEL_NAMES,
  registerTrainingKernels,
  trainingKernelsRegistered,
  unregisterTrainingKernels,
  type KernelPlan,
  type PureBackendName,
} from './backend/training_kernels.js';
export { maxMicroBatch, WASM_IMAGE_WIDTH_BUDGET } from './backend/micro_batch.js';
export { memoryStats, type MemoryStats } from './memory_stats.js';
export {
  GpuUnavailableError,
  classifyGpuProbe,
  GPU_LIBRARIES,
  type GpuFinding,
  type GpuProbe,
  type GpuVerdict,
} from './backend/gpu_requirement.js';
