// Public API of @gnet/worker, as far as other projects use it: worker:train's flag parser and the
// error a worker's run ends with.
export { parseTrainConfig } from './train_config.js';
export { WorkerRunError } from './worker_run_error.js';
