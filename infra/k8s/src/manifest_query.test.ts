// manifest_query's readings of args and env, which the manifest tests rely on: $(VAR) expansion
// as the kubelet does it (literal values only, unknown references kept, $$ an escaped $), and flag
// values in both spellings with the last one winning, as commander reads them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandRefs, flagValue, hasFlag, type Container } from './manifest_query.js';

const container: Container = {
  name: 'c',
  env: [
    { name: 'RUN_DIR', value: '/runs/gnet' },
    { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
  ],
};

test('expandRefs replaces literal env values, keeps valueFrom and unknown references, unescapes $$', () => {
  assert.equal(expandRefs('$(RUN_DIR)/ckpt', container), '/runs/gnet/ckpt');
  assert.equal(expandRefs('$(TOKEN)-$(JOB_COMPLETION_INDEX)', container), '$(TOKEN)-$(JOB_COMPLETION_INDEX)');
  assert.equal(expandRefs('w-$(JOB_COMPLETION_INDEX)', container, { JOB_COMPLETION_INDEX: '3' }), 'w-3');
  assert.equal(expandRefs('$$(RUN_DIR) $$HOME $((i+1))', container), '$(RUN_DIR) $HOME $((i+1))');
});

test('flagValue reads --flag v and --flag=v, the last one winning; hasFlag sees both spellings', () => {
  const args = ['--workers', '2', '--run-dir=/a', '--workers', '3', '--require-gpu'];
  assert.equal(flagValue(args, '--workers'), '3');
  assert.equal(flagValue(args, '--run-dir'), '/a');
  assert.equal(flagValue(args, '--port'), undefined);
  assert.ok(hasFlag(args, '--require-gpu') && hasFlag(args, '--run-dir') && !hasFlag(args, '--resume'));
});
