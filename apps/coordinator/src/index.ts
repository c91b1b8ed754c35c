// Public API of @gnet/coordinator, as far as other projects use it: its flag parser (run by the
// integration tests beside worker:train's) and the error a diverged run ends with.
export { parseCoordinatorConfig } from './coordinator_config.js';
export { TrainingDivergedError } from './errors.js';
