// Single-node mode (`--local-workers N`): the coordinator starts N `worker:serve` processes on this
// machine, pointed at itself, with the same node flags it runs under (tsx), forwards their logs as
// its own, and kills them when it ends, whichever way it ends (torchrun's --standalone).
import { availableParallelism } from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { LocalWorkerExitError } from './errors.js';

/** Whether this module runs built (dist/*.js, e.g. in the container image) rather than under tsx. */
const BUILT = import.meta.url.endsWith('.js');
/** The worker's entry beside ours: apps/worker/dist/serve_main.js when built, else its TypeScript source. */
const WORKER_ENTRY = fileURLToPath(new URL(BUILT ? '../../worker/dist/serve_main.js' : '../../worker/src/serve_main.ts', import.meta.url));
/** pino's numeric levels, for re-logging a worker's line at its own level. */
const LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};
/** Bytes of each worker's stderr kept for the error message when it dies. */
const STDERR_TAIL_BYTES = 2000;

/** Options of {@link LocalWorkers.start}. */
export interface LocalWorkersOptions {
  count: number;
  /** The coordinator's URL as the workers should dial it. */
  coordinatorUrl: string;
  token: string;
  backend: string;
  dataDir: string;
  logLevel: string;
  /** Appended to every worker's flags. */
  extraArgs: readonly string[];
  log: Logger;
  /** Re-log worker lines through `log` (pretty terminal output) instead of passing the NDJSON through. */
  relog: boolean;
}

/**
 * TLS flags for workers on this machine when we serve `wss://`: trust our certificate, and serve
 * the ring with the same certificate and key (the workers dial each other on this host, as they
 * dial us). Flags the user gave in `--local-worker-args` come after these and win.
 */
export function localWorkerTlsArgs(cfg: { tlsCert: string; tlsKey: string }): string[] {
  if (cfg.tlsCert === '') return [];
  return ['--tls-ca', cfg.tlsCert, '--tls-cert', cfg.tlsCert, '--tls-key', cfg.tlsKey];
}

/** oneDNN threads for each of `count` workers sharing `cores`: an equal share, at least 1. */
export function localWorkerThreads(count: number, cores: number): number {
  return Math.max(1, Math.floor(cores / Math.max(1, count)));
}

/** The spawned workers. */
export class LocalWorkers {
  /** Rejects with `LocalWorkerExitError` when a worker exits before `expectExit()`; never resolves. */
  readonly unexpectedExit: Promise<never>;
  private readonly children: ChildProcess[] = [];
  private exitExpected = false;

  private constructor(options: LocalWorkersOptions) {
    let fail!: (err: LocalWorkerExitError) => void;
    this.unexpectedExit = new Promise<never>((_, reject) => (fail = reject));
    this.unexpectedExit.catch(() => undefined);
    // The workers run what we run: built JavaScript from dist/ (production installs have no tsx),
    // or the TypeScript sources under tsx.
    const nodeArgs =
      BUILT || process.execArgv.some((a) => a.includes('tsx'))
        ? process.execArgv
        : ['--conditions=source', '--import', 'tsx', ...process.execArgv];
    const threads = localWorkerThreads(options.count, availableParallelism());
    for (let i = 0; i < options.count; i += 1) {
      const args = [
        WORKER_ENTRY,
        '--coordinator',
        options.coordinatorUrl,
        '--backend',
        options.backend,
        '--worker-id',
        `local-${i}`,
        '--log-level',
        options.logLevel,
      ];
      // Each worker's share of the cores for oneDNN, unless --local-worker-args says otherwise.
      if (!options.extraArgs.includes('--threads')) args.push('--threads', String(threads));
      if (options.dataDir !== '') args.push('--data-dir', options.dataDir);
      args.push(...options.extraArgs);
      // The token travels in the environment, not on the command line (visible in `ps`).
      // Own process group: Ctrl-C reaches only the coordinator, which then tells the workers to leave.
      // Passive OpenMP threads sleep between kernels instead of spinning on cores a neighbour
      // needs; OpenMP reads this once at start-up, so it must be set here.
      const omp = options.count > 1 && process.env.OMP_WAIT_POLICY === undefined ? { OMP_WAIT_POLICY: 'passive' } : {};
      const child = spawn(process.execPath, [...nodeArgs, ...args], {
        env: { ...process.env, ...omp, GNET_TOKEN: options.token },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      this.children.push(child);
      const log = options.log.child({ localWorker: i });
      let rest = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) if (line.trim() !== '') forward(line, log, options.relog);
      });
      let stderrTail = '';
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
        process.stderr.write(chunk.replace(/^(?=.)/gm, `[worker ${i}] `));
      });
      child.on('exit', (code, signal) => {
        if (this.exitExpected) return;
        fail(new LocalWorkerExitError(i, code, signal, stderrTail.trim().split('\n').slice(-3).join(' | ')));
      });
      log.info({ pid: child.pid, entry: WORKER_ENTRY }, 'local worker started');
    }
    // Last resort: never leave workers behind, even on an uncaught exception.
    process.once('exit', () => this.children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill('SIGKILL')));
  }

  /** Spawns `count` workers dialing `coordinatorUrl`. */
  static start(options: LocalWorkersOptions): LocalWorkers {
    return new LocalWorkers(options);
  }

  /** Process ids, in spawn order. */
  get pids(): number[] {
    return this.children.map((c) => c.pid ?? -1);
  }

  /** From now on exits are expected (the run ended). */
  expectExit(): void {
    this.exitExpected = true;
  }

  /** Waits up to `graceMs` for the workers to exit on their own (after `leave`), then SIGTERM, then SIGKILL. */
  async stop(graceMs = 5000): Promise<void> {
    this.expectExit();
    const alive = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;
    const exited = (child: ChildProcess): Promise<void> =>
      alive(child) ? new Promise((resolve) => child.once('exit', () => resolve())) : Promise.resolve();
    const within = (ms: number): Promise<void> =>
      Promise.race([
        Promise.all(this.children.map(exited)).then(() => undefined),
        new Promise<void>((resolve) => setTimeout(resolve, ms).unref()),
      ]);
    await within(graceMs);
    for (const child of this.children) if (alive(child)) child.kill('SIGTERM');
    await within(2000);
    for (const child of this.children) if (alive(child)) child.kill('SIGKILL');
  }
}

/** Passes a worker's NDJSON line through, or re-logs it at its level for a human at a terminal. */
function forward(line: string, log: Logger, relog: boolean): void {
  if (!relog) {
    process.stdout.write(line + '\n');
    return;
  }
  try {
    const { level, msg, time: _time, pid: _pid, hostname: _host, ...fields } = JSON.parse(line) as Record<string, unknown>;
    log[LEVELS[level as number] ?? 'info'](fields, typeof msg === 'string' ? msg : '');
  } catch {
    log.info({ line }, 'worker output');
  }
}
