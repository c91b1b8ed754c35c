// A busy worker is not a dead one: two real workers train steps several times longer than
// `--worker-timeout-ms`, in many short micro-batches. Because a step yields to the event loop
// between micro-batches, heartbeats keep flowing and nobody is evicted; before that change the
// coordinator took each worker for dead in its first long step (silent for the whole step).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { coordinatorArgs, describe, finished, startGroup } from './distributed_group.js';

const TIMEOUT_MS = 5 * 60_000;
const WORKER_TIMEOUT_MS = 2000;
// On onednn a 384-image step took ~2.8 s; 768 keeps steps well above 1.5x the timeout even on a quiet machine
// (in micro-batches of 8, one step took 13.4 s in a quiet CI run: one step is proof enough).
const PER_WORKER_BATCH = 768;

test(
  `steps longer than --worker-timeout-ms (${WORKER_TIMEOUT_MS} ms) evict nobody: heartbeats flow between micro-batches`,
  { timeout: TIMEOUT_MS + 30_000 },
  async (t) => {
    const runDir = await mkdtemp(join(tmpdir(), 'gnet-busy-'));
    try {
      const group = await startGroup({
        workers: 2,
        timeoutMs: TIMEOUT_MS,
        coordinatorArgs: coordinatorArgs({
          epochs: 1,
          batchSize: 2 * PER_WORKER_BATCH,
          microBatch: 8,
          // One step: heartbeats must flow through all of it.
          trainLimit: 2 * PER_WORKER_BATCH,
          evalLimit: 16,
          runDir,
          dashboard: false,
          checkpointEverySteps: 0,
          workerTimeoutMs: WORKER_TIMEOUT_MS,
          heartbeatMs: 200,
          minWorkers: 2,
        }),
      });
      const results = await finished(group);
      assert.equal(results.coordinator.code, 0, describe(results));
      const logs = results.coordinator.logs;
      assert.deepEqual(
        logs.filter((l) => l['msg'] === 'worker lost'),
        [],
        'no worker was taken for dead',
      );
      // The steps really were longer than the limit: the check would have bitten without the yields.
      const epoch = logs.find((l) => l['msg'] === 'epoch done');
      const stepMs = (epoch?.['meanStepMs'] as { computeMs: number } | undefined)?.computeMs ?? Number.NaN;
      t.diagnostic(`mean compute per step ${Math.round(stepMs)} ms, worker timeout ${WORKER_TIMEOUT_MS} ms`);
      assert.ok(stepMs > 1.5 * WORKER_TIMEOUT_MS, `steps of ${Math.round(stepMs)} ms are not long enough to prove anything`);
    } finally {
      await rm(runDir, { recursive: true, force: true });
    }
  },
);
