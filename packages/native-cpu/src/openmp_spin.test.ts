// The OpenMP spin count the addon's loader sets: only where the user chose neither a spin count
// nor a wait policy (bench/omp_wait_policy.sh measures why it is set at all).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_GOMP_SPINCOUNT, shortenOpenMpSpin } from './native_addon.js';

test('GOMP_SPINCOUNT is set where unset, and a user-chosen spin count or wait policy is left alone', () => {
  const unset: NodeJS.ProcessEnv = {};
  shortenOpenMpSpin(unset);
  assert.deepEqual(unset, { GOMP_SPINCOUNT: DEFAULT_GOMP_SPINCOUNT });
  const chosen: NodeJS.ProcessEnv = { GOMP_SPINCOUNT: 'infinite' };
  shortenOpenMpSpin(chosen);
  assert.deepEqual(chosen, { GOMP_SPINCOUNT: 'infinite' });
  const policy: NodeJS.ProcessEnv = { OMP_WAIT_POLICY: 'active' };
  shortenOpenMpSpin(policy);
  assert.deepEqual(policy, { OMP_WAIT_POLICY: 'active' });
});
