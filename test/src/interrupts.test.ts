// Stopping and restarting a run on purpose, with real processes over real sockets on 127.0.0.1
// (issue 10, items 4 and 5; item 1, a resumed coordinator never reusing an aborted round's number,
// is asserted by fault_tolerance.test.ts's coordinator-restart test):
//  - SIGTERM to the coordinator (a preemption) finishes or aborts the step in progress, writes a
//    checkpoint of that step, tells the workers to leave and exits 143 with the command to resume;
//  - SIGINT to every process at once (Ctrl-C to a process group, `scancel`) saves the state of a
//    leaving worker, exits 130, and the printed command resumes the run to the end;
//  - every worker stopped by SIGTERM while the coordinator keeps running: the coordinator keeps a
//    leaving worker's state as a checkpoint and says so truthfully.
// No process logs an ERROR line or a stack trace for a deliberate stop.
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CIFAR10_TEST_DIR, REPO_ROOT } from './cifar_dir.js';
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
} from './distributed_group.js';
import { startApp, type ProcessResult, type RunningApp } from './run_process.js';

const TIMEOUT_MS = 4 * 60_000;
const TOKEN = 'integration-secret';

/** A tiny run (`FAULT_RUN`): narrow GoogLeNet on the ring, 2 epochs of 16 steps of 24 images. */
function tinyRun(runDir: string, extra: Flags = {}): Flags {
  return { algorithm: 'ring', ...FAULT_RUN, runDir, ...extra };
}

const WORKER_ARGS = flagsOf(FAULT_WORKER);

async function withRunDir(name: string, body: (runDir: string) => Promise<void>): Promise<void> {
  const runDir = await mkdtemp(join(tmpdir(), `interrupt-${name}-`));
  try {
    await body(runDir);
  } finally {
    await rm(runDir, { recursive: true, force: true });
  }
}

async function checkpointSteps(runDir: string): Promise<number[]> {
  return (await readdir(join(runDir, 'checkpoints')))
    .map((f) => /^ckpt-(\d+)\.ckpt$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** The highest global step whose round finished, per the coordinator's log. */
function lastStepDone(coordinator: RunningApp | ProcessResult): number {
  return Math.max(-1, ...coordinator.logs.filter((l) => l['msg'] === 'round done').map((l) => l['globalStep'] as number));
}

/** A deliberate stop is not an error: no ERROR (pino level ≥ 50) line and no stack trace anywhere. */
function assertNoErrors(results: readonly ProcessResult[]): void {
  for (const r of results) {
    const errors = r.logs.filter((l) => typeof l['level'] === 'number' && (l['level'] as number) >= 50);
    assert.deepEqual(
      errors.map((l) => l['msg']),
      [],
      `ERROR lines: ${JSON.stringify(errors).slice(0, 1500)}`,
    );
    assert.doesNotMatch(r.stderr, /\n\s+at /, `a stack trace on stderr: ${r.stderr.slice(-1500)}`);
    assert.deepEqual(r.duplicateKeys, [], 'log lines with a key twice');
  }
}

function startWorkers(url: string, count: number, prefix: string): RunningApp[] {
  return Array.from({ length: count }, (_, i) =>
    startApp(WORKER_ENTRY, workerArgs(url, `${prefix}${i}`, FAULT_WORKER), { timeoutMs: TIMEOUT_MS, env: { GNET_TOKEN: TOKEN } }),
  );
}

test(
  'SIGTERM to the coordinator mid-run: the step in progress is checkpointed, workers are told, exit 143 with the command to resume',
  { timeout: TIMEOUT_MS },
  async () => {
    await withRunDir('sigterm', async (runDir) => {
      // No periodic checkpoints: the one on disk after the stop can only be the stop's own.
      const args = coordinatorArgs(tinyRun(runDir, { checkpointEverySteps: 0, epochs: 1 }));
      const group = await startGroup({ workers: 2, timeoutMs: TIMEOUT_MS, coordinatorArgs: args, workerArgs: () => WORKER_ARGS });
      await group.coordinator.waitForLog((l) => l['msg'] === 'round done' && (l['globalStep'] as number) >= 3, 120_000);
      group.coordinator.child.kill('SIGTERM');
      const results = await finished(group);
      const { coordinator } = results;
      assert.equal(coordinator.code, 143, describe(results));
      const done = lastStepDone(coordinator);
      const steps = await checkpointSteps(runDir);
      // The checkpoint holds every step that finished (the one in flight finishes within
      // --stop-grace-ms, or is aborted and then applied by no rank or by all): nothing trained is lost.
      assert.equal(steps.length, 1, `checkpoints ${JSON.stringify(steps)}`);
      const saved = steps[0]!;
      assert.ok(saved >= done + 1 && saved <= done + 2, `checkpoint at step ${saved}, last step done ${done}`);
      const interrupted = coordinator.logs.find((l) => l['msg'] === 'run interrupted');
      assert.equal(interrupted?.['code'], 'COORD_INTERRUPTED');
      assert.equal(interrupted?.['globalStep'], saved);
      assert.match(
        coordinator.stderr,
        new RegExp(
          `Interrupted by SIGTERM: a checkpoint at step ${saved} was saved \\(.*ckpt-0*${saved}\\.ckpt\\); resume with: npx nx run coordinator:serve -- .*--resume`,
        ),
      );
      for (const worker of results.workers) {
        assert.equal(worker.code, 1, describe(results));
        assert.ok(
          worker.logs.some((l) => l['msg'] === 'worker stopped' && l['code'] === 'WORKER_RUN_STOPPED'),
          describe(results),
        );
        assert.match(worker.stderr, /the coordinator ended the run \(shutdown\): Interrupted by SIGTERM: a checkpoint at step/);
      }
      assertNoErrors([coordinator, ...results.workers]);
    });
  },
);

test(
  'SIGINT to every process at once: a leaving worker hands over its state, exit 130, and the printed command resumes the run to the end',
  { timeout: 2 * TIMEOUT_MS },
  async () => {
    await withRunDir('sigint', async (runDir) => {
      const args = coordinatorArgs(tinyRun(runDir, { checkpointEverySteps: 0, epochs: 1 }));
      const group = await startGroup({ workers: 2, timeoutMs: TIMEOUT_MS, coordinatorArgs: args, workerArgs: () => WORKER_ARGS });
      await group.coordinator.waitForLog((l) => l['msg'] === 'round done' && (l['globalStep'] as number) >= 3, 120_000);
      for (const p of [group.coordinator, ...group.workers]) p.child.kill('SIGINT');
      const results = await finished(group);
      const { coordinator } = results;
      assert.equal(coordinator.code, 130, describe(results));
      for (const worker of results.workers) assert.equal(worker.code, 130, describe(results));
      const done = lastStepDone(coordinator);
      const steps = await checkpointSteps(runDir);
      assert.equal(steps.length, 1, `checkpoints ${JSON.stringify(steps)}`);
      // The state handed over is after the last step every rank finished, or after the one in flight.
      assert.ok(steps[0]! >= done + 1 && steps[0]! <= done + 2, `checkpoint ${steps[0]}, last step done ${done}`);
      assert.ok(
        results.workers.some((worker) =>
          worker.logs.some((l) => l['msg'] === 'worker stopped' && /the coordinator has our latest state/.test(String(l['reason']))),
        ),
        describe(results),
      );
      assertNoErrors([coordinator, ...results.workers]);
      // The command printed on stderr, run as printed (its flags; nx is the launcher), finishes the run.
      const command = /resume with: npx nx run coordinator:serve -- (.*)$/m.exec(coordinator.stderr)?.[1];
      assert.ok(command !== undefined, coordinator.stderr);
      const resumeArgs = command.split(' ');
      assert.equal(resumeArgs.at(-1), '--resume');
      // --port 0 in the original command: pick the new port from the log.
      const resumed = startApp(COORDINATOR_ENTRY, resumeArgs, { timeoutMs: TIMEOUT_MS, env: { GNET_TOKEN: TOKEN } });
      const from = await resumed.waitForLog((l) => l['msg'] === 'resuming from checkpoint', 60_000);
      assert.equal(from['globalStep'], steps[0]);
      const url = (await resumed.waitForLog((l) => l['msg'] === 'coordinator listening', 60_000))['url'] as string;
      const workers = startWorkers(url, 2, 'r');
      const second = await finished({ url, coordinator: resumed, workers });
      assert.equal(second.coordinator.code, 0, describe(second));
      for (const worker of second.workers) assert.equal(worker.code, 0, describe(second));
      assert.ok(second.coordinator.logs.some((l) => typeof l['testAccuracy'] === 'number'));
      // The epoch split over two coordinator lives is recorded whole (the checkpoint carries its figures so far).
      const records = (await readFile(join(runDir, 'metrics.jsonl'), 'utf8'))
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const epoch = records.find((r) => r['kind'] === 'epoch');
      assert.equal(epoch?.['steps'], 16, JSON.stringify(epoch));
      assert.equal(epoch?.['images'], 384, JSON.stringify(epoch));
    });
  },
);

test(
  'every worker stopped by SIGTERM while the coordinator runs: a leaving worker’s state becomes the checkpoint, and the messages say so',
  { timeout: TIMEOUT_MS },
  async () => {
    await withRunDir('workers', async (runDir) => {
      const args = coordinatorArgs(tinyRun(runDir, { checkpointEverySteps: 0, epochs: 1, minWorkers: 2, rejoinTimeoutMs: 2000 }));
      const group = await startGroup({ workers: 2, timeoutMs: TIMEOUT_MS, coordinatorArgs: args, workerArgs: () => WORKER_ARGS });
      await group.coordinator.waitForLog((l) => l['msg'] === 'round done' && (l['globalStep'] as number) >= 3, 120_000);
      for (const worker of group.workers) worker.child.kill('SIGTERM');
      const results = await finished(group);
      const { coordinator } = results;
      for (const worker of results.workers) assert.equal(worker.code, 143, describe(results));
      assert.equal(coordinator.code, 1, describe(results));
      const steps = await checkpointSteps(runDir);
      assert.equal(steps.length, 1, `checkpoints ${JSON.stringify(steps)}`);
      const done = lastStepDone(coordinator);
      assert.ok(steps[0]! >= done + 1 && steps[0]! <= done + 2, `checkpoint ${steps[0]}, last step done ${done}`);
      assert.match(
        coordinator.stderr,
        new RegExp(
          `TooFewWorkersError: Only [01] workers? left, below --min-workers 2, .*; a checkpoint at step ${steps[0]} was saved \\(.*\\): start workers and resume with --resume`,
        ),
      );
      // Nothing claims a fresh start or a checkpoint that is not there.
      const lines = coordinator.logs.map((l) => String(l['msg']));
      assert.ok(!lines.some((m) => /starting over/.test(m)), lines.join('\n'));
      assertNoErrors(results.workers);
    });
  },
);

test(
  'Ctrl-C to the process group of `nx run coordinator:serve` (single-node, output piped) still checkpoints and records the stop',
  { timeout: TIMEOUT_MS },
  async () => {
    await withRunDir('nx', async (runDir) => {
      const args = coordinatorArgs({
        ...tinyRun(runDir, { checkpointEverySteps: 0, epochs: 1, trainLimit: 2400 }),
        workers: 1,
        localWorkers: 1,
        port: 0,
        dashboard: false,
        dataDir: CIFAR10_TEST_DIR,
      });
      // Its own process group, as a shell gives a foreground job; stdout a pipe, as with `| tee`.
      const nx = spawn(join(REPO_ROOT, 'node_modules', '.bin', 'nx'), ['run', 'coordinator:serve', '--', ...args], {
        cwd: REPO_ROOT,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, GNET_TOKEN: TOKEN, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_SKIP_NX_CACHE: 'true' },
      });
      let out = '';
      const steps = new Promise<void>((resolve) => {
        nx.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
          out += chunk;
          if (/"globalStep":[3-9]\d*,.*"msg":"round done"|"msg":"round done".*"globalStep":[3-9]/.test(out)) resolve();
        });
      });
      nx.stderr!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      const exited = new Promise<number | null>((resolve) => nx.on('close', (code) => resolve(code)));
      const guard = setTimeout(() => process.kill(-nx.pid!, 'SIGKILL'), TIMEOUT_MS - 30_000);
      try {
        await Promise.race([steps, exited.then(() => assert.fail(`nx exited before training: ${out.slice(-2000)}`))]);
        process.kill(-nx.pid!, 'SIGINT');
        await exited;
      } finally {
        clearTimeout(guard);
      }
      const saved = await checkpointSteps(runDir);
      assert.equal(saved.length, 1, `no checkpoint after Ctrl-C under nx: ${out.slice(-2000)}`);
      const stop = JSON.parse(await readFile(join(runDir, 'last-stop.json'), 'utf8')) as {
        signal: string;
        message: string;
        checkpoint: { globalStep: number } | null;
        resume: string;
      };
      assert.equal(stop.signal, 'SIGINT');
      assert.equal(stop.checkpoint?.globalStep, saved[0]);
      assert.match(stop.message, new RegExp(`^Interrupted by SIGINT: a checkpoint at step ${saved[0]} was saved`));
      assert.match(stop.resume, /^npx nx run coordinator:serve -- .*--local-workers 1 .*--resume$/);
    });
  },
);
