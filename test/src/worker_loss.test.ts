// A worker killed mid-training (SIGKILL: no goodbye, the OS just drops its sockets) must make the
// coordinator stop promptly, exit non-zero and name the lost rank; the surviving worker must stop
// too instead of waiting out its timeouts. For both all-reduce algorithms: in the star the
// coordinator's hub loses a peer mid-round, in the ring the survivor loses its neighbour. And a
// killed coordinator must make every worker fail fast, saying the coordinator went away.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, finished, rankOf, startGroup } from './distributed_group.js';

/** Longest acceptable time from the kill to every other process having exited. */
const PROMPT_MS = 15_000;

for (const algorithm of ['star', 'ring'] as const) {
  test(`${algorithm}: a killed worker ends the run promptly, exit code 1, naming its rank`, { timeout: 3 * 60_000 }, async () => {
    const runDir = await mkdtemp(join(tmpdir(), `loss-${algorithm}-`));
    try {
      const group = await startGroup({
        workers: 2,
        timeoutMs: 2 * 60_000,
        coordinatorArgs: [
          ...['--algorithm', algorithm, '--width', '0.0625', '--epochs', '1', '--batch-size', '16', '--train-limit', '4096'],
          ...['--eval-limit', '10', '--log-level', 'debug', '--run-dir', runDir],
        ],
      });
      await group.coordinator.waitForLog((l) => l['msg'] === 'round done' && (l['round'] as number) >= 2, 90_000);
      const ranks = await Promise.all(group.workers.map(async (w) => (await w.waitForLog((l) => l['msg'] === 'welcome', 1000))['rank'] as number));
      const victim = group.workers[ranks.indexOf(1)]!;
      const survivor = group.workers[ranks.indexOf(0)]!;
      const killedAt = performance.now();
      victim.child.kill('SIGKILL');
      const [coordinator, survived] = await Promise.all([group.coordinator.done, survivor.done]);
      const elapsedMs = performance.now() - killedAt;
      const results = await finished(group);
      assert.ok(elapsedMs < PROMPT_MS, `the others took ${Math.round(elapsedMs)} ms to stop`);
      assert.equal(coordinator.code, 1, describe(results));
      assert.match(coordinator.stderr, /WorkerLostError: Rank 1 \(worker 'w\d'\) lost during round \d+ \(epoch 0, step \d+\): connection lost \(1006/);
      const failure = coordinator.logs.find((l) => l['msg'] === 'run failed');
      assert.equal(failure?.['rank'], 1);
      assert.equal(failure?.['code'], 'COORD_WORKER_LOST');
      assert.equal(survived.code, 1, describe(results));
      assert.equal(rankOf(survived.logs), 0);
      assert.ok(survived.logs.some((l) => l['msg'] === 'worker failed'), 'the survivor says why it stopped');
    } finally {
      await rm(runDir, { recursive: true, force: true });
    }
  });
}

test('ring: a killed coordinator makes every worker fail fast with a clear error', { timeout: 3 * 60_000 }, async () => {
  const runDir = await mkdtemp(join(tmpdir(), 'loss-coordinator-'));
  try {
    const group = await startGroup({
      workers: 2,
      timeoutMs: 2 * 60_000,
      coordinatorArgs: [...['--algorithm', 'ring', '--width', '0.0625', '--epochs', '1', '--batch-size', '16', '--train-limit', '4096'], ...['--log-level', 'debug', '--run-dir', runDir]],
    });
    await group.coordinator.waitForLog((l) => l['msg'] === 'round done' && (l['round'] as number) >= 2, 90_000);
    const killedAt = performance.now();
    group.coordinator.child.kill('SIGKILL');
    const results = await finished(group);
    const elapsedMs = performance.now() - killedAt;
    assert.ok(elapsedMs < PROMPT_MS, `the workers took ${Math.round(elapsedMs)} ms to stop`);
    for (const w of results.workers) {
      assert.equal(w.code, 1, describe(results));
      assert.match(w.stderr, /The coordinator closed the connection \(1006\): it exited or the network dropped/);
    }
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
});
