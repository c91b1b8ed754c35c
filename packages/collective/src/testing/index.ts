// Test support shared with other projects' tests and benchmarks (`@gnet/collective/testing`):
// source only (the library build leaves testing/ out), so it resolves under `--conditions=source`,
// which every test and bench command here uses. Needs the `selfsigned` dev dependency.
export { selfSignedCert } from './self_signed.js';
