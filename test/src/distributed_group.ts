// Starts a real coordinator (port 0) and N real worker processes dialing it over 127.0.0.1, the
// multi-machine command shape (`coordinator:serve -- --workers N` + `worker:serve` elsewhere), and
// reads what they log: the coordinator's bound URL, each worker's rank, per-step weight digests and
// batch samples.
import { CIFAR10_TEST_DIR } from './cifar_dir.js';
import { startApp, type ProcessResult, type RunningApp } from './run_process.js';

export const COORDINATOR_ENTRY = 'apps/coordinator/src/main.ts';
export const WORKER_ENTRY = 'apps/worker/src/serve_main.ts';

export interface Group {
  url: string;
  coordinator: RunningApp;
  /** In start order (not rank order: ranks follow join order; see `rankOf`). */
  workers: RunningApp[];
}

/** Starts the coordinator with `coordinatorArgs` (plus --workers, --port 0, the test data) and `workers` workers with `workerArgs(i)`. */
export async function startGroup(o: {
  workers: number;
  coordinatorArgs: readonly string[];
  workerArgs?: (i: number) => string[];
  timeoutMs: number;
  token?: string;
}): Promise<Group> {
  const token = o.token ?? 'integration-secret';
  const coordinator = startApp(
    COORDINATOR_ENTRY,
    [
      '--workers',
      String(o.workers),
      '--port',
      '0',
      '--data-dir',
      CIFAR10_TEST_DIR,
      '--join-timeout-ms',
      String(o.timeoutMs),
      ...o.coordinatorArgs,
    ],
    { timeoutMs: o.timeoutMs, env: { GNET_TOKEN: token } },
  );
  const listening = await coordinator.waitForLog((l) => l['msg'] === 'coordinator listening', 60_000);
  const url = listening['url'] as string;
  const workers = Array.from({ length: o.workers }, (_, i) =>
    startApp(
      WORKER_ENTRY,
      [
        '--coordinator',
        url,
        '--worker-id',
        `w${i}`,
        '--backend',
        'onednn',
        '--threads',
        '1',
        '--data-dir',
        CIFAR10_TEST_DIR,
        ...(o.workerArgs?.(i) ?? []),
      ],
      {
        timeoutMs: o.timeoutMs,
        env: { GNET_TOKEN: token },
      },
    ),
  );
  return { url, coordinator, workers };
}

/** Waits for every process of the group to exit. */
export async function finished(group: Group): Promise<{ coordinator: ProcessResult; workers: ProcessResult[] }> {
  const [coordinator, ...workers] = await Promise.all([group.coordinator.done, ...group.workers.map((w) => w.done)]);
  return { coordinator: coordinator!, workers };
}

/** The rank a worker was given (its 'welcome' log line). */
export function rankOf(logs: ReadonlyArray<Record<string, unknown>>): number {
  const welcome = logs.find((l) => l['msg'] === 'welcome');
  if (welcome === undefined) throw new Error('worker never logged its welcome');
  return welcome['rank'] as number;
}

/** `--trace-weights` lines: the SHA-256 of the weights after each step, keyed `epoch/step`. */
export function weightDigests(logs: ReadonlyArray<Record<string, unknown>>): Map<string, string> {
  return new Map(
    logs
      .filter((l) => l['msg'] === 'weights digest')
      .map((l) => [`${String(l['epoch'])}/${String(l['step'])}`, l['weightsSha256'] as string]),
  );
}

/** `--trace-samples` lines: the training-set indices of each step's batch, keyed `epoch/step`. */
export function batchSamples(logs: ReadonlyArray<Record<string, unknown>>): Map<string, number[]> {
  return new Map(
    logs.filter((l) => l['msg'] === 'batch samples').map((l) => [`${String(l['epoch'])}/${String(l['step'])}`, l['samples'] as number[]]),
  );
}

/** A failure message with each process's stderr tail, for assertions. */
export function describe(results: { coordinator: ProcessResult; workers: ProcessResult[] }): string {
  const tail = (r: ProcessResult): string => `code ${String(r.code)}${r.timedOut ? ' (timed out)' : ''}: ${r.stderr.slice(-800)}`;
  return [`coordinator ${tail(results.coordinator)}`, ...results.workers.map((w, i) => `worker ${i} ${tail(w)}`)].join('\n');
}
