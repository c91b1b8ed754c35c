// localWorkerThreads: each of N local workers gets an equal share of the cores for oneDNN, at
// least one thread. (Spawning the workers themselves is tested end to end in test/src.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { localWorkerThreads } from './local_workers.js';

test('local workers share the cores equally, at least one thread each', () => {
  assert.equal(localWorkerThreads(1, 2), 2);
  assert.equal(localWorkerThreads(2, 2), 1);
  assert.equal(localWorkerThreads(3, 2), 1);
  assert.equal(localWorkerThreads(2, 16), 8);
  assert.equal(localWorkerThreads(3, 16), 5);
  assert.equal(localWorkerThreads(0, 4), 4);
});
