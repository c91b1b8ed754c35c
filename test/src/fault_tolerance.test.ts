// Fault injection with real processes over real sockets on 127.0.0.1 (issue 4's proof): a worker
// SIGKILLed mid-epoch, a worker frozen (SIGSTOP) and woken, a worker joining mid-run, the
// coordinator SIGKILLed and restarted with --resume after a worker's death aborted a round (the
// resumed run must never reuse that round's number), and a NaN gradient on one worker. In each,
// training finishes, the replicas of every generation stay bit-identical step by step, and the
// epoch's sample accounting holds: for every step, the samples of its last (successful) attempt,
// over all ranks, are exactly that step's global batch, and together each training image once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCifar10, stratifiedSplit } from '@gnet/data';
import { CIFAR10_TEST_DIR } from './cifar_dir.js';
import {
  COORDINATOR_ENTRY,
  coordinatorArgs,
  describe,
  FAULT_RUN,
  FAULT_WORKER,
  finished,
  flagsOf,
  startGroup,
  WORKER_ENTRY,
  workerArgs,
  type Flags,
  type Group,
} from './distributed_group.js';
import { startApp, type ProcessResult } from './run_process.js';

const { seed: SEED, trainLimit: TRAIN_IMAGES, batchSize: GLOBAL_BATCH } = FAULT_RUN;
const STEPS_PER_EPOCH = TRAIN_IMAGES / GLOBAL_BATCH;
const TIMEOUT_MS = 4 * 60_000;

/** A tiny run (`FAULT_RUN`: narrow GoogLeNet, 2 epochs of 16 steps, quick failure detection) on `algorithm`. */
function faultRun(runDir: string, algorithm: 'ring' | 'star', extra: Flags = {}): Flags {
  return { algorithm, ...FAULT_RUN, runDir, roundTimeoutMs: 60_000, ...extra };
}

/** Each worker logs its weights digest and batch samples after every step. */
const WORKER_FLAGS = { traceWeights: true, traceSamples: true, ...FAULT_WORKER } as const satisfies Flags;
const WORKER_ARGS = flagsOf(WORKER_FLAGS);

type Line = Record<string, unknown>;

/** Per global step, the last attempt's weight digest of each worker (key `workerId`). */
function digestsByStep(results: readonly ProcessResult[]): Map<number, Map<string, string>> {
  const out = new Map<number, Map<string, string>>();
  results.forEach((r, i) => {
    for (const l of r.logs.filter((x) => x['msg'] === 'weights digest')) {
      const step = l['globalStep'] as number;
      if (!out.has(step)) out.set(step, new Map());
      out.get(step)!.set(`w${i}`, l['weightsSha256'] as string);
    }
  });
  return out;
}

/** Logged by a worker each time its coordinator went away and it dials again (coordinator_link / link_executor). */
const LOST_COORDINATOR = 'lost the coordinator; dialing again to rejoin';

/**
 * For each global step, the lines `msg` of its final attempt: those of the latest generation that
 * ran it. Generation numbers restart when a coordinator restarts, so with `coordinatorRestarted`
 * an attempt is ordered by (coordinator life, generation), a worker's life being how many times
 * it had lost the coordinator when it logged the line (every survivor loses it once per restart).
 */
function finalAttempts(results: readonly ProcessResult[], msg: string, coordinatorRestarted = false): Map<number, Line[]> {
  const final = new Map<number, { order: number; lines: Line[] }>();
  for (const r of results) {
    let life = 0;
    for (const l of r.logs) {
      if (l['msg'] === LOST_COORDINATOR && coordinatorRestarted) life += 1;
      if (l['msg'] !== msg) continue;
      const step = l['globalStep'] as number;
      const order = life * 1_000_000 + (l['generation'] as number);
      const seen = final.get(step);
      if (seen === undefined || order > seen.order) final.set(step, { order, lines: [l] });
      else if (order === seen.order) seen.lines.push(l);
    }
  }
  return new Map([...final].map(([step, v]) => [step, v.lines]));
}

/** Replicas that trained a step in its final attempt agree on the weights after it. */
function assertIdenticalReplicas(results: readonly ProcessResult[], coordinatorRestarted = false): void {
  const final = finalAttempts(results, 'weights digest', coordinatorRestarted);
  assert.ok(final.size > 0, 'no weight digests were logged');
  for (const [step, lines] of final) {
    const digests = lines.map((l) => l['weightsSha256'] as string);
    assert.equal(new Set(digests).size, 1, `replicas differ after global step ${step}: ${digests.join(', ')}`);
  }
}

/** Every step of both epochs ran, and each epoch's final attempts cover the training images exactly once. */
async function assertSampleAccounting(results: readonly ProcessResult[], coordinatorRestarted = false): Promise<void> {
  const final = new Map(
    [...finalAttempts(results, 'batch samples', coordinatorRestarted)].map(([step, lines]) => [
      step,
      { samples: lines.flatMap((l) => l['samples'] as number[]) },
    ]),
  );
  const train = await readCifar10(CIFAR10_TEST_DIR, 'train');
  const runImages = [...stratifiedSplit(train.labels, 500, SEED).train.subarray(0, TRAIN_IMAGES)].sort((a, b) => a - b);
  for (const epoch of [0, 1]) {
    const seen: number[] = [];
    for (let step = 0; step < STEPS_PER_EPOCH; step += 1) {
      const attempt = final.get(epoch * STEPS_PER_EPOCH + step);
      assert.ok(attempt !== undefined, `global step ${epoch * STEPS_PER_EPOCH + step} never trained`);
      assert.equal(attempt.samples.length, GLOBAL_BATCH, `step ${epoch * STEPS_PER_EPOCH + step} saw ${attempt.samples.length} samples`);
      seen.push(...attempt.samples);
    }
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      runImages,
      `epoch ${epoch}: not every training image exactly once`,
    );
  }
}

/** The coordinator's 'group formed' lines: generation → world size. */
function generations(coordinator: readonly Line[]): Array<{ generation: number; worldSize: number; globalStep: number }> {
  return coordinator
    .filter((l) => l['msg'] === 'group formed')
    .map((l) => ({ generation: l['generation'] as number, worldSize: l['worldSize'] as number, globalStep: l['globalStep'] as number }));
}

async function withRunDir(name: string, body: (runDir: string) => Promise<void>): Promise<void> {
  const runDir = await mkdtemp(join(tmpdir(), `fault-${name}-`));
  try {
    await body(runDir);
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
}

/** The coordinator ended with a final test accuracy, a share of the test images (the run got to its test). */
function assertFinalAccuracy(coordinator: ProcessResult): void {
  const line = coordinator.logs.find((l) => typeof l['testAccuracy'] === 'number');
  assert.ok(line, 'the coordinator logged no final test accuracy');
  const accuracy = line['testAccuracy'] as number;
  assert.ok(accuracy >= 0 && accuracy <= 1, `final test accuracy ${accuracy}`);
}

async function workerWithRank(group: Group, rank: number): Promise<number> {
  const ranks = await Promise.all(
    group.workers.map(async (worker) => (await worker.waitForLog((l) => l['msg'] === 'welcome', 60_000))['rank'] as number),
  );
  return ranks.indexOf(rank);
}

test(
  'ring, 3 workers: one SIGKILLed mid-epoch; the two survivors re-form, stay identical and finish with exact sample accounting',
  { timeout: TIMEOUT_MS + 30_000 },
  async (t) => {
    await withRunDir('kill', async (runDir) => {
      const group = await startGroup({
        workers: 3,
        timeoutMs: TIMEOUT_MS,
        coordinatorArgs: coordinatorArgs(faultRun(runDir, 'ring', { minWorkers: 2 })),
        workerArgs: () => WORKER_ARGS,
      });
      await group.coordinator.waitForLog((l) => l['msg'] === 'round done' && (l['globalStep'] as number) >= 5, 120_000);
      const victim = group.workers[await workerWithRank(group, 1)]!;
      const killedAt = performance.now();
      victim.child.kill('SIGKILL');
      const reformed = await group.coordinator.waitForLog((l) => l['msg'] === 'group formed' && (l['generation'] as number) >= 1, 60_000);
      const recoveryMs = performance.now() - killedAt;
      const results = await finished(group);
      assert.equal(results.coordinator.code, 0, describe(results));
      const survivors = results.workers.filter((worker) => worker.signal !== 'SIGKILL');
      assert.equal(survivors.length, 2);
      for (const worker of survivors) assert.equal(worker.code, 0, describe(results));
      assert.equal(reformed['worldSize'], 2);
      const lost = results.coordinator.logs.find((l) => l['msg'] === 'worker lost');
      assert.equal(lost?.['rank'], 1);
      assert.match(String(lost?.['reason']), /connection lost \(1006/);
      assertIdenticalReplicas(results.workers);
      await assertSampleAccounting(results.workers);
      assertFinalAccuracy(results.coordinator);
      t.diagnostic(
        `worker loss: kill → next generation formed in ${Math.round(recoveryMs)} ms; generations ${JSON.stringify(generations(results.coordinator.logs))}`,
      );
    });
  },
);

test(
  'star, 2 workers: one frozen (SIGSTOP) is evicted after --worker-timeout-ms, and when woken rejoins at a step boundary',
  { timeout: TIMEOUT_MS + 30_000 },
  async (t) => {
    await withRunDir('stall', async (runDir) => {
      const group = await startGroup({
        workers: 2,
        timeoutMs: TIMEOUT_MS,
        coordinatorArgs: coordinatorArgs(faultRun(runDir, 'star', { minWorkers: 1 })),
        workerArgs: () => WORKER_ARGS,
      });
      await group.coordinator.waitForLog((l) => l['msg'] === 'round done' && (l['globalStep'] as number) >= 3, 120_000);
      const frozen = group.workers[await workerWithRank(group, 1)]!;
      const stoppedAt = performance.now();
      frozen.child.kill('SIGSTOP');
      const lost = await group.coordinator.waitForLog((l) => l['msg'] === 'worker lost', 60_000);
      const detectMs = performance.now() - stoppedAt;
      assert.match(String(lost['reason']), /silent for \d+ ms \(limit --worker-timeout-ms 15000\)/);
      await group.coordinator.waitForLog((l) => l['msg'] === 'group formed' && l['worldSize'] === 1, 60_000);
      frozen.child.kill('SIGCONT');
      await group.coordinator.waitForLog(
        (l) => l['msg'] === 'group formed' && l['worldSize'] === 2 && (l['generation'] as number) >= 2,
        90_000,
      );
      const results = await finished(group);
      assert.equal(results.coordinator.code, 0, describe(results));
      for (const worker of results.workers) assert.equal(worker.code, 0, describe(results));
      // It is told it was evicted and why, not that the coordinator went away.
      const rejoin = results.workers
        .flatMap((worker) => worker.logs)
        .find((l) => l['msg'] === 'evicted by the coordinator; dialing again to rejoin');
      const linkLines = results.workers.map((worker) =>
        worker.logs
          .filter((l) => /lost|evicted|leave|rejoin|failed|stopped/.test(String(l['msg'])))
          .map((l) => `${String(l['msg'])}: ${String(l['reason'] ?? '')}`),
      );
      assert.ok(rejoin !== undefined, `the woken worker rejoined; the workers' link lines: ${JSON.stringify(linkLines)}`);
      assert.match(String(rejoin['reason']), /the coordinator evicted this worker: .*silent for \d+ ms/);
      assertIdenticalReplicas(results.workers);
      await assertSampleAccounting(results.workers);
      t.diagnostic(
        `stall: SIGSTOP → evicted in ${Math.round(detectMs)} ms; generations ${JSON.stringify(generations(results.coordinator.logs))}`,
      );
    });
  },
);

test(
  'ring: a worker joining mid-run is admitted at a step boundary with the current weights and momentum',
  { timeout: TIMEOUT_MS + 30_000 },
  async (t) => {
    await withRunDir('join', async (runDir) => {
      const group = await startGroup({
        workers: 1,
        timeoutMs: TIMEOUT_MS,
        coordinatorArgs: coordinatorArgs(faultRun(runDir, 'ring', { maxWorkers: 2 })),
        workerArgs: () => WORKER_ARGS,
      });
      await group.coordinator.waitForLog((l) => l['msg'] === 'round done' && (l['globalStep'] as number) >= 4, 120_000);
      const late = startApp(WORKER_ENTRY, workerArgs(group.url, 'late', WORKER_FLAGS), {
        timeoutMs: TIMEOUT_MS,
        env: { GNET_TOKEN: 'integration-secret' },
      });
      group.workers.push(late);
      const joined = await group.coordinator.waitForLog((l) => l['msg'] === 'group formed' && l['worldSize'] === 2, 90_000);
      const results = await finished(group);
      assert.equal(results.coordinator.code, 0, describe(results));
      for (const worker of results.workers) assert.equal(worker.code, 0, describe(results));
      const lateWelcome = results.workers[1]!.logs.find((l) => l['msg'] === 'welcome');
      assert.equal(lateWelcome?.['stateFrom'], 'sent');
      assert.equal(lateWelcome?.['globalStep'], joined['globalStep']);
      assertIdenticalReplicas(results.workers);
      await assertSampleAccounting(results.workers);
      t.diagnostic(
        `join: admitted at global step ${String(joined['globalStep'])}; generations ${JSON.stringify(generations(results.coordinator.logs))}`,
      );
    });
  },
);

test(
  'ring: a worker SIGKILLed (its round aborted), then the coordinator SIGKILLed and restarted with --resume: it continues from its checkpoint and never reuses a round number; the survivors rejoin and finish identical, every sample once',
  { timeout: TIMEOUT_MS + 60_000 },
  async (t) => {
    await withRunDir('resume', async (runDir) => {
      // A reused round number would be dropped unrun by the workers that remember it aborted: the
      // resumed run would stall until --round-timeout-ms and break its generation, which the
      // assertions below refuse.
      const run = faultRun(runDir, 'ring', { checkpointEverySteps: 4, minWorkers: 2 });
      const group = await startGroup({
        workers: 3,
        timeoutMs: TIMEOUT_MS,
        coordinatorArgs: coordinatorArgs(run),
        workerArgs: () => WORKER_ARGS,
      });
      const port = new URL(group.url).port;
      await group.coordinator.waitForLog((l) => l['msg'] === 'round done' && (l['globalStep'] as number) >= 2, 120_000);
      // 1. A worker dies: its round is aborted (the survivors remember that round number).
      group.workers[await workerWithRank(group, 2)]!.child.kill('SIGKILL');
      await group.coordinator.waitForLog((l) => l['msg'] === 'group formed' && l['worldSize'] === 2, 60_000);
      const aborted = group.coordinator.logs.filter((l) => l['msg'] === 'generation broken; re-forming the group');
      assert.ok(aborted.length >= 1, 'the kill broke a generation');
      // 2. Later the coordinator dies too, and comes back with --resume.
      await group.coordinator.waitForLog((l) => l['msg'] === 'checkpoint written' && (l['globalStep'] as number) >= 8, 120_000);
      const stepsBefore = Math.max(
        ...group.coordinator.logs.filter((l) => l['msg'] === 'round done').map((l) => l['globalStep'] as number),
      );
      const killedAt = performance.now();
      group.coordinator.child.kill('SIGKILL');
      const first = await group.coordinator.done;
      assert.equal(first.signal, 'SIGKILL');
      const firstLifeRounds = first.logs.filter((l) => l['msg'] === 'round done').map((l) => l['round'] as number);
      assert.ok((await readdir(join(runDir, 'checkpoints'))).some((f) => /^ckpt-\d+\.ckpt$/.test(f)));
      const restarted = startApp(
        COORDINATOR_ENTRY,
        coordinatorArgs({ ...run, workers: 2, dataDir: CIFAR10_TEST_DIR, joinTimeoutMs: 120_000, port, resume: true }),
        { timeoutMs: TIMEOUT_MS, env: { GNET_TOKEN: 'integration-secret' } },
      );
      const resumed = await restarted.waitForLog((l) => l['msg'] === 'resuming from checkpoint', 60_000);
      await restarted.waitForLog((l) => l['msg'] === 'round done', 120_000);
      const recoveryMs = performance.now() - killedAt;
      const coordinator = await restarted.done;
      const workers = await Promise.all(group.workers.map((worker) => worker.done));
      const survivors = workers.filter((worker) => worker.signal !== 'SIGKILL');
      const results = { coordinator, workers };
      assert.equal(coordinator.code, 0, describe(results));
      assert.equal(survivors.length, 2);
      for (const worker of survivors) assert.equal(worker.code, 0, describe(results));
      const resumedAt = resumed['globalStep'] as number;
      assert.ok(resumedAt >= 8 && resumedAt <= stepsBefore + 1, `resumed at ${resumedAt}, last step before the kill ${stepsBefore}`);
      assert.ok(stepsBefore + 1 - resumedAt <= 4, 'lost more than one checkpoint interval');
      // Not one phase of the resumed life waited in vain, and no round number came back.
      const broken = coordinator.logs.filter((l) => l['msg'] === 'generation broken; re-forming the group');
      assert.deepEqual(broken, [], `the resumed run broke a generation: ${JSON.stringify(broken).slice(0, 800)}`);
      const secondLifeRounds = coordinator.logs.filter((l) => l['msg'] === 'round done').map((l) => l['round'] as number);
      assert.ok(secondLifeRounds.length > 0);
      assert.ok(
        Math.min(...secondLifeRounds) > Math.max(...firstLifeRounds),
        `round numbers repeat across lives: ${JSON.stringify({ firstLifeRounds, secondLifeRounds })}`,
      );
      for (const worker of survivors) assert.ok(worker.logs.some((l) => l['msg'] === LOST_COORDINATOR));
      // The killed worker's lines count for the steps it last trained in; the survivors' for the rest.
      assertIdenticalReplicas(workers, true);
      await assertSampleAccounting(workers, true);
      assertFinalAccuracy(coordinator);
      t.diagnostic(
        `coordinator restart: kill → first round of the resumed run in ${Math.round(recoveryMs)} ms; resumed at step ${resumedAt}, ${stepsBefore + 1 - resumedAt} steps recomputed; rounds ${Math.min(...secondLifeRounds)}..${Math.max(...secondLifeRounds)} after the first life's ${Math.max(...firstLifeRounds)}`,
      );
    });
  },
);

test('ring: a NaN gradient on one worker is skipped by every replica alike and the run goes on', { timeout: TIMEOUT_MS }, async () => {
  await withRunDir('nan', async (runDir) => {
    const group = await startGroup({
      workers: 2,
      timeoutMs: TIMEOUT_MS,
      coordinatorArgs: coordinatorArgs(faultRun(runDir, 'ring', { epochs: 1 })),
      workerArgs: (i) => flagsOf({ ...WORKER_FLAGS, faultNanAtStep: i === 0 ? 3 : undefined }),
    });
    const results = await finished(group);
    assert.equal(results.coordinator.code, 0, describe(results));
    const skipped = results.coordinator.logs.filter((l) => l['msg'] === 'round done' && l['skipped'] === true);
    assert.deepEqual(
      skipped.map((l) => l['globalStep']),
      [3],
    );
    for (const worker of results.workers) {
      assert.equal(worker.code, 0, describe(results));
      assert.ok(worker.logs.some((l) => l['msg'] === 'non-finite gradient: update skipped on every rank' && l['globalStep'] === 3));
    }
    const digests = digestsByStep(results.workers);
    // Skipped: the weights after step 3 are those after step 2, on both replicas.
    assert.equal(new Set([...digests.get(3)!.values()]).size, 1);
    assert.deepEqual([...digests.get(3)!.values()], [...digests.get(2)!.values()]);
    assert.notDeepEqual([...digests.get(4)!.values()], [...digests.get(3)!.values()]);
  });
});

test(
  'ring: --max-skipped-steps non-finite steps in a row stop the run with a checkpoint and a clear message',
  { timeout: TIMEOUT_MS },
  async () => {
    await withRunDir('diverged', async (runDir) => {
      const group = await startGroup({
        workers: 2,
        timeoutMs: TIMEOUT_MS,
        coordinatorArgs: coordinatorArgs(faultRun(runDir, 'ring', { epochs: 1, maxSkippedSteps: 1 })),
        workerArgs: (i) => flagsOf({ ...WORKER_FLAGS, faultNanAtStep: i === 1 ? 2 : undefined }),
      });
      const results = await finished(group);
      assert.equal(results.coordinator.code, 1, describe(results));
      assert.match(
        results.coordinator.stderr,
        /TrainingDivergedError: 1 steps in a row \(up to global step 2\) had a NaN or infinite gradient and were skipped \(limit --max-skipped-steps 1\); a checkpoint was saved: only rank \d \(worker 'w1'\) computed a non-finite loss while the others' stayed finite: suspect that worker \(its backend, hardware or data\) before the learning rate; replace it and resume with --resume/,
      );
      // The checkpoint holds the state after the skipped step (which trains step 3 next).
      assert.ok((await readdir(join(runDir, 'checkpoints'))).includes('ckpt-000000003.ckpt'));
      for (const worker of results.workers) assert.equal(worker.code, 1, describe(results));
    });
  },
);
