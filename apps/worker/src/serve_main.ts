// `nx run worker:serve`: distributed mode. Parses the config, selects the TF.js backend, makes sure
// CIFAR-10 is on disk, then joins the coordinator and trains one replica until the coordinator
// says `leave`. Exit codes: 0 finished, 1 failed (the error says why, once), 2 bad flag, 130 / 143
// stopped by SIGINT / SIGTERM (after offering our state to the coordinator; a second signal exits
// at once).
import { resolve } from 'node:path';
import { defaultCacheDir, ensureCifar10, userDirectory } from '@gnet/data';
import { selectBackend } from '@gnet/training';
import { runDistributedWorker } from './distributed_worker.js';
import { createLogger } from './logger.js';
import { parseServeConfig, type ServeConfig } from './serve_config.js';
import { Timeline } from './timeline.js';
import { ConfigError, HelpShown } from './train_config.js';
import { useNativeFloat16Codec } from './wire_codec.js';

/** Signals this soon after the first belong to the same stop (a launcher relaying the terminal's Ctrl-C). */
const SAME_STOP_MS = 2000;

async function main(): Promise<void> {
  let cfg: ServeConfig;
  try {
    cfg = parseServeConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof HelpShown) return;
    if (err instanceof ConfigError) {
      process.stderr.write(`worker: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // Relative paths: the workspace root under nx, else the folder the command was typed in.
  const userCwd = userDirectory(process.env);
  const log = createLogger({ level: cfg.logLevel, pretty: process.stdout.isTTY === true, base: { app: 'worker', workerId: cfg.workerId } });
  log.info({ config: { ...cfg, token: cfg.token === '' ? '' : '<set>' } }, 'config resolved');
  // SIGTERM / Ctrl-C: tell the coordinator we leave (`leave` shutdown), stay to hand over our state, then stop.
  const shutdown = new AbortController();
  const signalExit = (signal: string): number => (signal === 'SIGINT' ? 130 : 143);
  let firstSignalMs = 0;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (!shutdown.signal.aborted) {
        firstSignalMs = performance.now();
        shutdown.abort(signal);
      } else if (performance.now() - firstSignalMs < SAME_STOP_MS) {
        // The same stop relayed by a launcher (nx, npm, our coordinator's process group): not a second one.
      } else {
        process.stderr.write(`worker: ${signal} again: exiting at once\n`);
        process.exit(signalExit(signal));
      }
    });
  }
  let timeline: Timeline | null = null;
  try {
    // The trace file is complete JSON after every event; closing it only releases the descriptor.
    if (cfg.timeline !== '')
      timeline = Timeline.open(cfg.timeline, {
        processName: `worker ${cfg.workerId}`,
        onError: (err) => log.warn({ err, path: cfg.timeline }, 'timeline write failed; no more timeline events'),
      });
    const backend = await selectBackend({
      requested: cfg.backend,
      threads: cfg.threads === 0 ? undefined : cfg.threads,
      log: log.child({ module: 'backend' }),
    });
    useNativeFloat16Codec(log.child({ module: 'wire' }));
    const dataDir = await ensureCifar10({
      cacheDir: resolve(userCwd, cfg.dataDir || defaultCacheDir(process.env)),
      log: log.child({ module: 'data' }),
      progress: false,
    });
    const outcome = await runDistributedWorker({ config: cfg, backend: backend.name, dataDir, log, signal: shutdown.signal, timeline });
    timeline?.close();
    log.info(
      { rank: outcome.rank, steps: outcome.steps, ...(timeline ? { timeline: timeline.path, timelineEvents: timeline.count } : {}) },
      'worker done',
    );
    process.exit(0);
  } catch (err) {
    timeline?.close();
    const code = (err as { code?: string }).code;
    if (shutdown.signal.aborted || code === 'WORKER_RUN_STOPPED') {
      // A deliberate stop (ours or the coordinator's) is not an error: one line, no stack trace.
      log.warn({ code, reason: err instanceof Error ? err.message : String(err) }, 'worker stopped');
      process.stderr.write(`worker: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(shutdown.signal.aborted ? signalExit(String(shutdown.signal.reason)) : 1);
    }
    if (err instanceof ConfigError) {
      // A setting that cannot work here (a --peer-port in use): one line, exit 2, as for a bad flag.
      log.error({ code: 'WORKER_CONFIG', reason: err.message }, 'worker failed');
      process.stderr.write(`worker: ${err.message}\n`);
      process.exit(2);
    }
    // Typed errors (with a code) explain themselves; a stack trace is for the unexpected.
    log.error(typeof code === 'string' ? { code, reason: err instanceof Error ? err.message : String(err) } : { err }, 'worker failed');
    process.stderr.write(`worker: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`);
    process.exit(1);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`worker failed: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`);
  process.exit(1);
});
