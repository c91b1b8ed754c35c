// `nx run worker:evaluate -- --checkpoint <file>`: a checkpoint of either writer (single-node or
// coordinator) on the CIFAR-10 test split: accuracy, loss, per-class accuracy and the confusion
// matrix, as text or (--json) one JSON object on stdout. Logs go to stderr.
import { performance } from 'node:perf_hooks';
import { defaultCacheDir, ensureCifar10, readCifar10 } from '@gnet/data';
import { selectBackend } from '@gnet/training';
import { loadCheckpointModel } from './checkpoint_model.js';
import { evaluateSet, evaluationReport, formatEvaluation } from './evaluate_checkpoint.js';
import { parseEvaluateConfig } from './tool_config.js';
import { runTool, toolLogger, userPath } from './tool_runtime.js';

runTool('evaluate', async () => {
  const env = process.env;
  const cfg = parseEvaluateConfig(process.argv.slice(2), env);
  const log = toolLogger(cfg.logLevel, 'evaluate');
  log.info({ config: cfg }, 'config resolved');
  const checkpoint = userPath(cfg.checkpoint, env);
  const backend = await selectBackend({ requested: cfg.backend, log: log.child({ module: 'backend' }) });
  const ckpt = await loadCheckpointModel(checkpoint, log.child({ module: 'checkpoint' }));
  try {
    const dataDir = await ensureCifar10({
      cacheDir: userPath(cfg.dataDir || defaultCacheDir(env), env),
      log: log.child({ module: 'data' }),
      progress: false,
    });
    const test = await readCifar10(dataDir, 'test');
    const count = cfg.limit > 0 ? Math.min(cfg.limit, test.count) : test.count;
    const t0 = performance.now();
    const sums = evaluateSet(ckpt.inference, test, count, cfg.batchSize);
    const report = evaluationReport(ckpt.path, ckpt, backend.name, sums, (performance.now() - t0) / 1000);
    log.info({ images: report.images, accuracy: report.accuracy, loss: report.loss, seconds: report.seconds }, 'evaluated');
    process.stdout.write(cfg.json ? `${JSON.stringify(report)}\n` : `${formatEvaluation(report)}\n`);
  } finally {
    ckpt.model.dispose();
  }
});
