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

/** A flag's value: a string or number follows the flag; `true` is the switch alone, `false` its `--no-` form; `undefined` leaves it out. */
export type FlagValue = string | number | boolean | undefined;

/** Flags by name in camelCase (`batchSize` is `--batch-size`, `lr` is `--lr`): what a test says it runs with. */
export type Flags = Readonly<Record<string, FlagValue>>;

/**
 * Command-line arguments from flags by name, in the object's order: `{ batchSize: 24, dashboard: false }`
 * is `['--batch-size', '24', '--no-dashboard']`. Keys are unique, so an override (a later spread)
 * replaces a default instead of repeating the flag and leaving commander to pick the last.
 */
export function flagsOf(flags: Flags): string[] {
  return Object.entries(flags).flatMap(([name, value]) => {
    const flag = '--' + name.replace(/[A-Z]/g, (letter) => '-' + letter.toLowerCase());
    if (value === undefined) return [];
    if (typeof value === 'boolean') return [value ? flag : flag.replace(/^--/, '--no-')];
    return [flag, String(value)];
  });
}

/** The model every process test trains unless it says otherwise: GoogLeNet at 1/16 width (fast on 2 cores), no warm-up. */
export const TINY_MODEL = { width: 0.0625, warmupEpochs: 0 } as const satisfies Flags;

/** Arguments of `coordinator:serve` for a test: `TINY_MODEL`, then `flags` (which may override it). */
export function coordinatorArgs(flags: Flags): string[] {
  return flagsOf({ ...TINY_MODEL, ...flags });
}

/** Arguments of a `worker:serve` dialing `url` as `workerId`: one oneDNN thread, the test data, then `flags`. */
export function workerArgs(url: string, workerId: string, flags: Flags = {}): string[] {
  return flagsOf({ coordinator: url, workerId, backend: 'onednn', threads: 1, dataDir: CIFAR10_TEST_DIR, ...flags });
}

/**
 * The run the fault tests share (fault_tolerance, interrupts, misbehaving_worker): 2 epochs of 16
 * steps of 24 images, debug logs, failures noticed within seconds. A worker silent for
 * `workerTimeoutMs` is lost: a training step blocks a worker's event loop (and so its heartbeats),
 * and the 2 shared cores may be very busy, so it is short enough for a test, long enough that no
 * healthy worker is ever taken for a frozen one.
 */
export const FAULT_RUN = {
  epochs: 2,
  batchSize: 24,
  seed: 5,
  trainLimit: 384,
  evalLimit: 40,
  logLevel: 'debug',
  heartbeatMs: 500,
  workerTimeoutMs: 15_000,
  rejoinTimeoutMs: 20_000,
} as const satisfies Flags;

/** The workers' side of `FAULT_RUN`: debug logs and deadlines long enough for busy shared cores. */
export const FAULT_WORKER = {
  logLevel: 'debug',
  coordinatorTimeoutMs: 30_000,
  reconnectTimeoutMs: 60_000,
  collectiveTimeoutMs: 30_000,
} as const satisfies Flags;

/** Starts the coordinator with `coordinatorArgs` (plus --workers, --port 0, the test data) and `workers` workers with `workerArgs(i)`. */
export async function startGroup(options: {
  workers: number;
  coordinatorArgs: readonly string[];
  workerArgs?: (index: number) => string[];
  timeoutMs: number;
  token?: string;
}): Promise<Group> {
  const env = { GNET_TOKEN: options.token ?? 'integration-secret' };
  const coordinator = startApp(
    COORDINATOR_ENTRY,
    [
      ...flagsOf({ workers: options.workers, port: 0, dataDir: CIFAR10_TEST_DIR, joinTimeoutMs: options.timeoutMs }),
      ...options.coordinatorArgs,
    ],
    { timeoutMs: options.timeoutMs, env },
  );
  const listening = await coordinator.waitForLog((l) => l['msg'] === 'coordinator listening', 60_000);
  const url = listening['url'] as string;
  const workers = Array.from({ length: options.workers }, (_, index) =>
    startApp(WORKER_ENTRY, [...workerArgs(url, `w${index}`), ...(options.workerArgs?.(index) ?? [])], {
      timeoutMs: options.timeoutMs,
      env,
    }),
  );
  return { url, coordinator, workers };
}

/** Waits for every process of the group to exit. */
export async function finished(group: Group): Promise<{ coordinator: ProcessResult; workers: ProcessResult[] }> {
  const [coordinator, ...workers] = await Promise.all([group.coordinator.done, ...group.workers.map((worker) => worker.done)]);
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
  return [`coordinator ${tail(results.coordinator)}`, ...results.workers.map((worker, i) => `worker ${i} ${tail(worker)}`)].join('\n');
}
