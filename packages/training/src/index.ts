// Public API of @gnet/training.
// The schedule lives in @gnet/run-store so the tfjs-free coordinator can drive it; re-exported here.
export { learningRateAt } from '@gnet/run-store';
export { ParamLayout } from './param_layout.js';
export { emptyEvalSums, evaluateImages, type EvalSums } from './evaluate.js';
export { Replica } from './replica.js';
export { identityReduce, StepRunner, TooManySkippedStepsError, type StepResult } from './step_runner.js';
export { dropoutSeed, GlobalBatches } from './global_batches.js';
export type { TrainableModel } from './trainable_model.js';
export { runSingleNode } from './single_node_run.js';
export { selectBackend, type BackendName } from './backend/select_backend.js';
export { registerTrainingKernels, unregisterTrainingKernels, type PureBackendName } from './backend/training_kernels.js';
export { maxMicroBatch } from './backend/micro_batch.js';
export { memoryStats } from './memory_stats.js';
