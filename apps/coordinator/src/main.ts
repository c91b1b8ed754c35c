// `nx run coordinator:serve`: parses the config, makes sure CIFAR-10 is on disk (the shard plan
// carries the training split's digest), optionally spawns local workers (single-node mode), runs
// the coordinator, writes the end-of-run report (report.md, confusion matrix) and exits 0 with
// the final test accuracy, 1 when the run failed (naming the rank), 2 on a bad setting, 130 on
// Ctrl-C. At a terminal, progress bars (progress.ts) with the log lines above them.
import { join, resolve } from 'node:path';
import { defaultCacheDir, ensureCifar10, userDirectory, workspaceRoot } from '@gnet/data';
import { ConfigError, HelpShown, parseCoordinatorConfig, type CoordinatorConfig } from './coordinator_config.js';
import { runCoordinator } from './coordinator.js';
import { WorkerLostError } from './errors.js';
import { LocalWorkers, localWorkerTlsArgs } from './local_workers.js';
import { createLogger } from './logger.js';
import { FinalReport } from './final_report.js';
import { expectedEvalImages, TerminalProgress } from './progress.js';
import { openDashboard } from './dashboard/open_dashboard.js';
import { RunEvents } from './run_events.js';
import { modelSize } from './model_size.js';
import { planGradientBuckets } from './run_plan.js';

/** Ctrl-C or SIGTERM: the run stops, workers are told to leave. */
class InterruptedError extends Error {
  readonly code = 'COORD_INTERRUPTED';
  override readonly name = 'InterruptedError';
}

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
  const log = createLogger({ level: cfg.logLevel, pretty: interactive, base: { app: 'coordinator' }, ...(progress ? { write: (text: string) => progress.write(text) } : {}) });
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
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => failAbort(new InterruptedError(`Interrupted by ${signal}`)));
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
      log: log.child({ module: 'coordinator' }),
      abort,
      events,
      onListening: (url) => {
        if (cfg.localWorkers === 0) return;
        // Workers on this machine dial the loopback even when we listen on every interface.
        const dial = url.replace(/^(wss?):\/\/(0\.0\.0\.0|\[::\])/, '$1://127.0.0.1');
        const extraArgs = [...localWorkerTlsArgs(cfg), ...cfg.localWorkerArgs];
        local = LocalWorkers.start({ count: cfg.localWorkers, coordinatorUrl: dial, token: cfg.token, backend: cfg.backend, dataDir, logLevel: cfg.logLevel, extraArgs, log: log.child({ module: 'local-workers' }), relog: interactive });
        // With room to shrink (--min-workers below --local-workers) the group re-forms without the
        // dead worker; otherwise waiting for a replacement that will never come is pointless.
        local.unexpectedExit.catch((err: Error) => {
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
      { testAccuracy: result.test.accuracy, testImages: result.test.count, perClassAccuracy: result.test.perClassAccuracy, imagesPerSecond: ips, runDir, worldSize: result.plan.worldSize },
      `final test accuracy ${(result.test.accuracy * 100).toFixed(2)}%`,
    );
    await (local as LocalWorkers | null)?.stop();
    await dashboard?.close();
  } catch (err) {
    progress?.detach();
    (local as LocalWorkers | null)?.expectExit();
    const fields = err instanceof WorkerLostError ? { rank: err.rank, workerId: err.workerId, phase: err.phase } : {};
    log.error({ err, code: (err as { code?: string }).code, ...fields }, 'run failed');
    process.stderr.write(`coordinator: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`);
    await (local as LocalWorkers | null)?.stop(2000);
    await dashboard?.close();
    // A setting that cannot work for the group that joined (e.g. --batch-size vs the world size) is a config error too.
    process.exit(err instanceof InterruptedError ? 130 : err instanceof ConfigError ? 2 : 1);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`coordinator failed: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`);
  process.exit(1);
});
