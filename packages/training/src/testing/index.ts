// Test support shared with other projects' tests (`@gnet/training/testing`): source only (the
// library build leaves testing/ out), so it resolves under `--conditions=source`, which every test
// command here uses.
export { tinyModel } from './tiny_model.js';
