// Unit tests of the skip-or-fail policy shared by every infra test (no root needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InfraRequiredError, requireOrSkip } from './availability.js';

function fakeTest(): { skipped: string[]; skip(message?: string): void } {
  const skipped: string[] = [];
  return { skipped, skip: (message?: string) => skipped.push(message ?? '') };
}

test('nothing missing: the test runs', () => {
  const t = fakeTest();
  assert.equal(requireOrSkip(t, null, { GNET_INFRA_REQUIRED: '1' }), true);
  assert.deepEqual(t.skipped, []);
});

test('something missing on a laptop: skip with the one-line reason', () => {
  const t = fakeTest();
  assert.equal(requireOrSkip(t, 'network namespaces need root', {}), false);
  assert.deepEqual(t.skipped, ['network namespaces need root']);
});

test('something missing under GNET_INFRA_REQUIRED=1 (CI): fail with the reason', () => {
  const t = fakeTest();
  assert.throws(
    () => requireOrSkip(t, 'network namespaces need `tc` on PATH (apt-get install iproute2)', { GNET_INFRA_REQUIRED: '1' }),
    (err: unknown) =>
      err instanceof InfraRequiredError &&
      err.code === 'INFRA_REQUIRED' &&
      err.message.startsWith('network namespaces need `tc`') &&
      err.message.includes('GNET_INFRA_REQUIRED=1'),
  );
  assert.deepEqual(t.skipped, []);
});
