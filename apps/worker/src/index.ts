// Public API of @gnet/worker: the distributed worker (for embedding and tests) and its configuration.
export { parseServeConfig, ServeConfigSchema, type ServeConfig } from './serve_config.js';
export { parseTrainConfig, TrainConfigSchema, type TrainConfig } from './train_config.js';
export { runDistributedWorker, type DistributedWorkerOptions, type WorkerOutcome } from './distributed_worker.js';
export { CoordinatorLink, CoordinatorLinkError, type ConnectOptions, type LinkErrorCode } from './coordinator_link.js';
export { RankData, ShardMismatchError, type ImageBatch, type RankDataOptions } from './rank_data.js';
export { ReplicaSession, type ReplicaSessionOptions } from './replica_session.js';
export { WorkerRunError, type WorkerRunErrorCode } from './worker_run_error.js';
