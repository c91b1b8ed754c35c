// `nx run worker:serve`: distributed mode. Parses the config, selects the TF.js backend, makes sure
// CIFAR-10 is on disk, then joins the coordinator and trains one replica until the coordinator
// says `leave`. Exit codes: 0 finished, 1 failed (the error says why, once), 2 bad flag.
import { resolve } from 'node:path';
import { defaultCacheDir, ensureCifar10, userDirectory } from '@gnet/data';
import { selectBackend } from '@gnet/training';
import { runDistributedWorker } from './distributed_worker.js';
import { createLogger } from './logger.js';
import { parseServeConfig, type ServeConfig } from './serve_config.js';
import { Timeline } from './timeline.js';
import { ConfigError, HelpShown } from './train_config.js';

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
  // SIGTERM / Ctrl-C: tell the coordinator we leave (`leave` shutdown), then stop.
  const shutdown = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => shutdown.abort(signal));
  let timeline: Timeline | null = null;
  try {
    // The trace file is complete JSON after every event; closing it only releases the descriptor.
    if (cfg.timeline !== '') timeline = Timeline.open(cfg.timeline, { processName: `worker ${cfg.workerId}`, onError: (err) => log.warn({ err, path: cfg.timeline }, 'timeline write failed; no more timeline events') });
    const backend = await selectBackend({ requested: cfg.backend, log: log.child({ module: 'backend' }) });
    const dataDir = await ensureCifar10({ cacheDir: resolve(userCwd, cfg.dataDir || defaultCacheDir(process.env)), log: log.child({ module: 'data' }), progress: false });
    const outcome = await runDistributedWorker({ config: cfg, backend: backend.name, dataDir, log, signal: shutdown.signal, timeline });
    timeline?.close();
    log.info({ rank: outcome.rank, steps: outcome.steps, ...(timeline ? { timeline: timeline.path, timelineEvents: timeline.count } : {}) }, 'worker done');
    process.exit(0);
  } catch (err) {
    timeline?.close();
    log.error({ err, code: (err as { code?: string }).code }, 'worker failed');
    process.stderr.write(`worker: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`);
    process.exit(1);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`worker failed: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`);
  process.exit(1);
});
