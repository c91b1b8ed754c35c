import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensorFromFloat32, type StateSnapshot } from '@gnet/protocol';
import { BadReplyError } from './errors.js';
import { snapshotToCheckpoint } from './snapshot_checkpoint.js';

const snap = (extra = 0): StateSnapshot => ({
  type: 'stateSnapshot',
  requestId: 0,
  epoch: 1,
  step: 0,
  globalStep: 4,
  nextGlobalStep: 4,
  tensors: [
    tensorFromFloat32('conv/kernel', [1, 1, 1, 2], Float32Array.of(1, 2)),
    tensorFromFloat32(
      'conv/bn/gamma',
      [1 + extra],
      Float32Array.from({ length: 1 + extra }, () => 3),
    ),
    tensorFromFloat32('conv/bn/running_mean', [2], Float32Array.of(4, 5)),
  ],
  momentum: [
    tensorFromFloat32('conv/kernel', [1, 1, 1, 2], Float32Array.of(6, 7)),
    tensorFromFloat32(
      'conv/bn/gamma',
      [1 + extra],
      Float32Array.from({ length: 1 + extra }, () => 8),
    ),
  ],
});

test('parameters first, then buffers, momentum by variable', () => {
  const state = snapshotToCheckpoint(snap(), { paramElements: 3, bufferElements: 2 }, { epoch: 1 });
  assert.deepEqual(Array.from(state.weights), [1, 2, 3]);
  assert.deepEqual(Array.from(state.buffers), [4, 5]);
  assert.deepEqual(Array.from(state.velocity), [6, 7, 8]);
  assert.deepEqual(
    state.weightSlots.map((s) => [s.name, s.offset, s.size]),
    [
      ['conv/kernel', 0, 2],
      ['conv/bn/gamma', 2, 1],
    ],
  );
  assert.deepEqual(
    state.bufferSlots.map((s) => s.name),
    ['conv/bn/running_mean'],
  );
});

test('a snapshot of another model size is a BadReplyError', () => {
  assert.throws(
    () => snapshotToCheckpoint(snap(1), { paramElements: 3, bufferElements: 2 }, {}),
    (e: unknown) =>
      e instanceof BadReplyError &&
      e.message === 'stateSnapshot must hold 3 parameter then 2 buffer elements, but its tensors split into 4 and 2',
  );
});
