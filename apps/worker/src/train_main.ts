// `nx run worker:train`: single-node development mode. Parses the config, picks the TF.js backend,
// makes sure CIFAR-10 is on disk (fetching and verifying it if not), builds GoogLeNet and trains it,
// leaving metrics, chart, checkpoints and a summary in the run folder.
import { join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { CIFAR10_CLASSES, defaultCacheDir, ensureCifar10, userDirectory, workspaceRoot } from '@gnet/data';
import { countParams, createGoogLeNet, flopsPerImage, type GoogLeNetConfig } from '@gnet/model';
import { hyperParamsOf, modelConfigOf } from '@gnet/recipe';
import { maxMicroBatch, runSingleNode, selectBackend } from '@gnet/training';
import { createLogger } from './logger.js';
import { Timeline } from './timeline.js';
import { ConfigError, HelpShown, parseTrainConfig, type TrainConfig } from './train_config.js';

async function main(): Promise<void> {
  let cfg: TrainConfig;
  try {
    cfg = parseTrainConfig(process.argv.slice(2), process.env, join(workspaceRoot(process.cwd()), 'runs'));
  } catch (err) {
    if (err instanceof HelpShown) return;
    if (err instanceof ConfigError) {
      process.stderr.write(`train: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // Relative paths: the workspace root under nx, else the folder the command was typed in.
  const userCwd = userDirectory(process.env);
  const runDir = resolve(userCwd, cfg.runDir);
  const interactive = process.stdout.isTTY === true;
  const log = createLogger({ level: cfg.logLevel, pretty: interactive, base: { app: 'worker', mode: 'single-node' } });
  log.info({ config: cfg }, 'config resolved');

  const backend = await selectBackend({
    requested: cfg.backend,
    threads: cfg.threads === 0 ? undefined : cfg.threads,
    log: log.child({ module: 'backend' }),
  });
  const dataDir = await ensureCifar10({
    cacheDir: resolve(userCwd, cfg.dataDir || defaultCacheDir(process.env)),
    log: log.child({ module: 'data' }),
    progress: cfg.progress && interactive,
  });

  const modelConfig: GoogLeNetConfig = { ...modelConfigOf(cfg), numClasses: CIFAR10_CLASSES.length };
  const params = countParams(modelConfig);
  const flops = flopsPerImage(modelConfig);
  log.info({ modelConfig, params, flopsPerImage: flops }, 'model');
  // The micro-batch is capped by what one pass of this backend holds at this width (wasm: 4 GB).
  const hp = hyperParamsOf(cfg, Math.min(cfg.microBatch, maxMicroBatch(backend.name, cfg.width)));

  const bar =
    cfg.progress && interactive
      ? new cliProgress.SingleBar(
          { format: 'epoch {epoch} |{bar}| {value}/{total} steps | loss {loss} | {ips} img/s | eta {eta_formatted}' },
          cliProgress.Presets.shades_classic,
        )
      : null;
  const timeline =
    cfg.timeline === ''
      ? null
      : Timeline.open(resolve(userCwd, cfg.timeline), {
          processName: 'worker:train',
          onError: (err) => log.warn({ err }, 'timeline write failed; no more timeline events'),
        });
  let stopRequested = false;
  process.once('SIGINT', () => {
    stopRequested = true;
    log.warn('SIGINT: finishing this step, writing a checkpoint, then stopping (resume with --resume)');
  });

  const result = await runSingleNode({
    dataDir,
    runDir,
    hp,
    createModel: (seed) => createGoogLeNet(modelConfig, seed),
    modelDescription: { name: `GoogLeNet (width ${cfg.width})`, ...modelConfig, backend: backend.name },
    trainLimit: cfg.trainLimit,
    evalLimit: cfg.evalLimit,
    evalBatch: cfg.evalBatch,
    resume: cfg.resume,
    stopAfterSteps: 0,
    checkpointEverySteps: cfg.checkpointEverySteps,
    keepCheckpoints: cfg.keepCheckpoints,
    log: log.child({ module: 'train' }),
    shouldStop: () => stopRequested,
    timeline,
    onStep: bar
      ? ({ epoch, step, stepsPerEpoch, loss, imagesPerSecond }) => {
          if (step === 1) bar.start(stepsPerEpoch, 0, { epoch: epoch + 1, loss: '-', ips: '-' });
          bar.update(step, { epoch: epoch + 1, loss: loss.toFixed(3), ips: imagesPerSecond.toFixed(1) });
          if (step === stepsPerEpoch) bar.stop();
        }
      : undefined,
  });
  bar?.stop();
  timeline?.close();
  if (result.test) {
    log.info({ testAccuracy: result.test.accuracy, runDir }, `final test accuracy ${(result.test.accuracy * 100).toFixed(2)}%`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`train failed: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`);
  process.exit(1);
});
