// Losses the run cannot survive must end it promptly and clearly, never hang: a worker killed
// mid-training (SIGKILL: no goodbye, the OS just drops its sockets) when the group may not shrink
// (--min-workers = --workers) and no replacement comes within --rejoin-timeout-ms: the
// coordinator saves a checkpoint from the survivor, exits 1 naming the lost rank and the limit,
// and the survivor stops too. For both all-reduce algorithms: in the star the coordinator's hub
// loses a peer mid-round, in the ring the survivor loses its neighbour. And a killed coordinator
// with workers told not to wait for a restart (--reconnect-timeout-ms 0) makes every worker fail
// fast, saying the coordinator went away. (Surviving such faults: fault_tolerance.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, finished, rankOf, startGroup } from './distributed_group.js';

/** Longest acceptable time from the kill to every other process having exited. */
const PROMPT_MS = 15_000;

for (const algorithm of ['star', 'ring'] as const) {
  test(
    `${algorithm}: a killed worker that may not be replaced ends the run promptly with a checkpoint, exit code 1, naming its rank`,
    { timeout: 3 * 60_000 },
    async () => {
      const runDir = await mkdtemp(join(tmpdir(), `loss-${algorithm}-`));
      try {
        const group = await startGroup({
          workers: 2,
          timeoutMs: 2 * 60_000,
          coordinatorArgs: [
            ...['--algorithm', algorithm, '--width', '0.0625', '--epochs', '1', '--batch-size', '16', '--train-limit', '4096'],
            ...['--eval-limit', '10', '--log-level', 'debug', '--run-dir', runDir, '--rejoin-timeout-ms', '1000'],
          ],
        });
        await group.coordinator.waitForLog((l) => l['msg'] === 'round done' && (l['round'] as number) >= 2, 90_000);
        const ranks = await Promise.all(
          group.workers.map(async (worker) => (await worker.waitForLog((l) => l['msg'] === 'welcome', 1000))['rank'] as number),
        );
        const victim = group.workers[ranks.indexOf(1)]!;
        const survivor = group.workers[ranks.indexOf(0)]!;
        const killedAt = performance.now();
        victim.child.kill('SIGKILL');
        const [coordinator, survived] = await Promise.all([group.coordinator.done, survivor.done]);
        const elapsedMs = performance.now() - killedAt;
        const results = await finished(group);
        assert.ok(elapsedMs < PROMPT_MS, `the others took ${Math.round(elapsedMs)} ms to stop`);
        assert.equal(coordinator.code, 1, describe(results));
        const lost = coordinator.logs.find((l) => l['msg'] === 'worker lost');
        assert.equal(lost?.['rank'], 1);
        assert.match(String(lost?.['reason']), /connection lost \(1006/);
        assert.match(
          coordinator.stderr,
          /TooFewWorkersError: Only 1 worker left, below --min-workers 2, and no replacement joined within --rejoin-timeout-ms 1000; a checkpoint at step \d+ was saved \(\S+ckpt-\d+\.ckpt\): start workers and resume with --resume/,
        );
        const failure = coordinator.logs.find((l) => l['msg'] === 'run failed');
        assert.equal(failure?.['code'], 'COORD_TOO_FEW_WORKERS');
        assert.ok(
          coordinator.logs.some((l) => l['msg'] === 'checkpoint written'),
          'a checkpoint was saved before stopping',
        );
        assert.equal(survived.code, 1, describe(results));
        assert.equal(rankOf(survived.logs), 0);
        // The coordinator ended the run: the survivor says so in one line, not as its own failure.
        assert.ok(
          survived.logs.some((l) => l['msg'] === 'worker stopped' && l['code'] === 'WORKER_RUN_STOPPED'),
          'the survivor says why it stopped',
        );
        assert.match(survived.stderr, /the coordinator ended the run \(shutdown\): Only 1 worker left/);
      } finally {
        await rm(runDir, { recursive: true, force: true });
      }
    },
  );
}

test('ring: a killed coordinator makes every worker fail fast with a clear error', { timeout: 3 * 60_000 }, async () => {
  const runDir = await mkdtemp(join(tmpdir(), 'loss-coordinator-'));
  try {
    const group = await startGroup({
      workers: 2,
      timeoutMs: 2 * 60_000,
      coordinatorArgs: [
        ...['--algorithm', 'ring', '--width', '0.0625', '--epochs', '1', '--batch-size', '16', '--train-limit', '4096'],
        ...['--log-level', 'debug', '--run-dir', runDir],
      ],
      workerArgs: () => ['--reconnect-timeout-ms', '0'],
    });
    await group.coordinator.waitForLog((l) => l['msg'] === 'round done' && (l['round'] as number) >= 2, 90_000);
    const killedAt = performance.now();
    group.coordinator.child.kill('SIGKILL');
    const results = await finished(group);
    const elapsedMs = performance.now() - killedAt;
    assert.ok(elapsedMs < PROMPT_MS, `the workers took ${Math.round(elapsedMs)} ms to stop`);
    for (const worker of results.workers) {
      assert.equal(worker.code, 1, describe(results));
      assert.match(worker.stderr, /The coordinator closed the connection \(1006\): it exited or the network dropped/);
    }
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
});
