// Public API of @gnet/coordinator: the run (for embedding and tests) and its configuration.
export {
  ConfigError,
  CoordinatorConfigSchema,
  DEFAULT_COORDINATOR_PORT,
  parseCoordinatorConfig,
  type CoordinatorConfig,
} from './coordinator_config.js';
export { runCoordinator, WEIGHTS_CHECK_ELEMENTS, type CoordinatorResult, type CoordinatorRunOptions } from './coordinator.js';
export {
  BadReplyError,
  CoordinatorError,
  JoinTimeoutError,
  LocalWorkerExitError,
  PhaseTimeoutError,
  TrainingDivergedError,
  WorkerLostError,
  type CoordinatorErrorCode,
} from './errors.js';
export { modelSize, type ModelSize } from './model_size.js';
export { chooseMicroBatch, planGradientBuckets, planRun, type RunPlan, type SplitFacts } from './run_plan.js';
