// `nx run coordinator:serve`: parses the config, makes sure CIFAR-10 is on disk (the shard plan
// carries the training split's digest), optionally spawns local workers (single-node mode), runs
// the coordinator, writes the end-of-run report (report.md, confusion matrix) and exits 0 with
// the final test accuracy, 1 when the run failed (naming the rank), 2 on a bad setting, 130 on
// Ctrl-C (SIGINT) and 143 on SIGTERM, after checkpointing (graceful_stop.ts) and printing the
// command that resumes. At a terminal, progress bars (progress.ts) with the log lines above them.
import { closeSync, openSync, writeSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { defaultCacheDir, ensureCifar10, userDirectory, workspaceRoot } from '@gnet/data';
import { ConfigError, HelpShown, parseCoordinatorConfig, type CoordinatorConfig } from './coordinator_config.js';
import { runCoordinator } from './coordinator.js';
import { InterruptedError, WorkerLostError } from './errors.js';
import { exitCodeFor, GracefulStop, resumeCommand } from './graceful_stop.js';
import { LocalWorkers, localWorkerTlsArgs } from './local_workers.js';
import { createLogger } from './logger.js';
import { FinalReport } from './final_report.js';
import { expectedEvalImages, TerminalProgress } from './progress.js';
import { openDashboard } from './dashboard/open_dashboard.js';
import { RunEvents } from './run_events.js';
import { modelSize } from './model_size.js';
import { planGradientBuckets } from './run_plan.js';

/** Signals this soon after the first belong to the same stop (a launcher relaying the terminal's Ctrl-C). */
const SAME_STOP_MS = 2000;

/** `--print-plan`: the model's sizes and the bucket layout, for scripts and the model-size test. */
function printPlan(cfg: CoordinatorConfig): void {
  const size = modelSize({ width: cfg.width, auxHeads: cfg.auxHeads, batchNorm: cfg.batchNorm });
  const buckets = planGradientBuckets(size.params, cfg.bucketBytes);
  process.stdout.write(JSON.stringify({ paramElements: size.params, bufferElements: size.buffers, buckets }) + '\n');
}

async function main(): Promise<void> {
  let cfg: CoordinatorConfig;
  try {
    cfg = parseCoordinatorConfig(process.argv.slice(2), process.env, join(workspaceRoot(process.cwd()), 'runs'));
  } catch (err) {
    if (err instanceof HelpShown) return;
    if (err instanceof ConfigError) {
      process.stderr.write(`coordinator: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (cfg.printPlan) {
    printPlan(cfg);
    return;
  }
  // nx starts us in apps/coordinator; relative paths mean the folder the user typed the command in.
  // Relative paths: the workspace root under nx, else the folder the command was typed in.
  const userCwd = userDirectory(process.env);
  const runDir = resolve(userCwd, cfg.runDir);
  const interactive = process.stdout.isTTY === true;
  // At a terminal: progress bars, with the log lines printed above them (null otherwise: the log is the progress).
  const progress = TerminalProgress.create(process.stdout);
  const log = createLogger({
    level: cfg.logLevel,
    pretty: interactive,
    base: { app: 'coordinator' },
    ...(progress ? { write: (text: string) => progress.write(text) } : {}),
  });
  log.info({ config: { ...cfg, token: cfg.token === '' ? '' : '<set>' } }, 'config resolved');
  // The run's live feed: the dashboard and /metrics subscribe to it.
  const events = new RunEvents((err) => log.warn({ err }, 'run event listener failed and was dropped'));
  const dashboard = await openDashboard(cfg, events, log.child({ module: 'dashboard' }));
  // From the same feed: the end-of-run report's test confusion matrix, and the bars.
  const finalReport = new FinalReport(events);
  progress?.attach(events, { expectedEvalImages: expectedEvalImages(cfg.evalLimit) });

  let failAbort!: (err: Error) => void;
  const abort = new Promise<never>((_, reject) => (failAbort = reject));
  abort.catch(() => undefined);
  // The first SIGINT/SIGTERM stops the run gracefully (a checkpoint, then exit 130/143); a second
  // one stops it at once.
  const stop = new GracefulStop(cfg.stopGraceMs);
  let firstSignalMs = 0;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (!stop.isRequested) {
        firstSignalMs = performance.now();
        log.warn(
          { signal, stopGraceMs: cfg.stopGraceMs },
          'stop requested: finishing the step in progress, then checkpointing (signal again to stop at once)',
        );
        stop.request(signal);
      } else if (performance.now() - firstSignalMs < SAME_STOP_MS) {
        // The same stop, relayed: a Ctrl-C reaches us from the terminal and again from the
        // launcher (nx, npm) forwarding it to its children; only a later signal is a second one.
      } else {
        failAbort(new InterruptedError(signal, null, `Interrupted again by ${signal}: stopped at once, without a new checkpoint`));
      }
    });
  }
  let local: LocalWorkers | null = null;
  try {
    const dataDir = await ensureCifar10({
      cacheDir: resolve(userCwd, cfg.dataDir || defaultCacheDir(process.env)),
      log: log.child({ module: 'data' }),
      progress: interactive,
    });
    const result = await runCoordinator({
      config: cfg,
      runDir,
      dataDir,
      log,
      abort,
      stop,
      stepLogs: progress === null,
      events,
      onListening: (url) => {
        if (cfg.localWorkers === 0) return;
        // Workers on this machine dial the loopback even when we listen on every interface.
        const dial = url.replace(/^(wss?):\/\/(0\.0\.0\.0|\[::\])/, '$1://127.0.0.1');
        const extraArgs = [...localWorkerTlsArgs(cfg), ...cfg.localWorkerArgs];
        local = LocalWorkers.start({
          count: cfg.localWorkers,
          coordinatorUrl: dial,
          token: cfg.token,
          backend: cfg.backend,
          dataDir,
          logLevel: cfg.logLevel,
          extraArgs,
          log: log.child({ module: 'local-workers' }),
          relog: interactive,
        });
        // With room to shrink (--min-workers below --local-workers) the group re-forms without the
        // dead worker; otherwise waiting for a replacement that will never come is pointless.
        local.unexpectedExit.catch((err: Error) => {
          // Ctrl-C reaches our local workers too (one process group): they leave on their own.
          if (stop.isRequested) return;
          if (cfg.minWorkers < cfg.localWorkers) log.warn({ err }, 'a local worker exited; the group re-forms without it');
          else failAbort(err);
        });
      },
    });
    progress?.detach();
    const report = await finalReport.write(runDir, result);
    log.info({ report: report.markdown, confusion: report.confusionPng }, 'report written');
    const ips = result.epochs.at(-1)?.imagesPerSecond ?? 0;
    log.info(
      {
        testAccuracy: result.test.accuracy,
        testImages: result.test.count,
        perClassAccuracy: result.test.perClassAccuracy,
        imagesPerSecond: ips,
        runDir,
        worldSize: result.plan.worldSize,
      },
      `final test accuracy ${(result.test.accuracy * 100).toFixed(2)}%`,
    );
    await (local as LocalWorkers | null)?.stop();
    await dashboard?.close();
  } catch (err) {
    progress?.detach();
    (local as LocalWorkers | null)?.expectExit();
    if (err instanceof InterruptedError) {
      // Not a failure: one line for the log, one for the person, no stack trace.
      const resume = err.checkpoint === null ? null : resumeCommand(process.argv.slice(2));
      log.warn(
        {
          code: err.code,
          signal: err.signal,
          checkpoint: err.checkpoint?.path ?? null,
          globalStep: err.checkpoint?.globalStep ?? null,
          resume,
        },
        'run interrupted',
      );
      const line = `coordinator: ${err.message}${resume === null ? '' : `; resume with: ${resume}`}\n`;
      process.stderr.write(line);
      await recordStop(runDir, err, resume, line);
    } else {
      const fields = err instanceof WorkerLostError ? { rank: err.rank, workerId: err.workerId, phase: err.phase } : {};
      const code = (err as { code?: unknown }).code;
      // Typed errors (with a code: ours, a full disk's ENOSPC) explain themselves; a stack trace is for the unexpected.
      log.error(
        typeof code === 'string' ? { code, reason: err instanceof Error ? err.message : String(err), ...fields } : { err, ...fields },
        'run failed',
      );
      process.stderr.write(
        `coordinator: ${err instanceof ConfigError ? err.message : err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`,
      );
    }
    await (local as LocalWorkers | null)?.stop(2000);
    await dashboard?.close();
    // A setting that cannot work for the group that joined (e.g. --batch-size vs the world size) is a config error too.
    process.exit(err instanceof InterruptedError ? exitCodeFor(err.signal) : err instanceof ConfigError ? 2 : 1);
  }
}

/**
 * Keeps the stop's one line where it cannot be lost: `<run>/last-stop.json`, and (under nx, whose
 * Ctrl-C handler discards everything its tasks print from then on) the terminal itself.
 */
async function recordStop(runDir: string, err: InterruptedError, resume: string | null, line: string): Promise<void> {
  const record = { signal: err.signal, atIso: new Date().toISOString(), message: err.message, checkpoint: err.checkpoint, resume };
  await writeFile(join(runDir, 'last-stop.json'), JSON.stringify(record, null, 2) + '\n').catch(() => undefined);
  if (process.env['NX_TASK_TARGET_PROJECT'] === undefined || process.stderr.isTTY === true) return;
  try {
    // The controlling terminal, if any (none under CI, Slurm or Kubernetes: then the file and the log stand).
    const fd = openSync('/dev/tty', 'w');
    writeSync(fd, line);
    closeSync(fd);
  } catch {
    // no terminal
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`coordinator failed: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`);
  process.exit(1);
});
