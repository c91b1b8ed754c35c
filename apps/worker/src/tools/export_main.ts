// `nx run worker:export -- --checkpoint <file> --out <dir> [--format layers]`: the checkpoint's
// network without auxiliary heads as a TF.js Layers model (model.json + weight shards) plus an
// index.html that loads it in a browser. Prints what it wrote and the self-check's figures.
import { selectBackend } from '@gnet/training';
import { loadCheckpointModel } from './checkpoint_model.js';
import { exportLayersModel, randomCheckImages } from './export_model.js';
import { parseExportConfig } from './tool_config.js';
import { runTool, toolLogger, userPath } from './tool_runtime.js';

/** Images of the self-check (seeded random pixels): enough to cover every class's logit. */
const CHECK_IMAGES = 8;
const CHECK_SEED = 20_150_917; // any fixed seed: the check must repeat exactly

runTool('export', async () => {
  const env = process.env;
  const cfg = parseExportConfig(process.argv.slice(2), env);
  const log = toolLogger(cfg.logLevel, 'export');
  log.info({ config: cfg }, 'config resolved');
  const checkpoint = userPath(cfg.checkpoint, env);
  const outDir = userPath(cfg.out, env);
  const backend = await selectBackend({ requested: cfg.backend, log: log.child({ module: 'backend' }) });
  const ckpt = await loadCheckpointModel(checkpoint, log.child({ module: 'checkpoint' }));
  try {
    const result = await exportLayersModel(ckpt, outDir, randomCheckImages(CHECK_IMAGES, CHECK_SEED), ckpt.path);
    log.info({ outDir, files: result.files.length, maxAbsDiff: result.check.maxAbsDiff }, 'exported');
    if (cfg.json) {
      process.stdout.write(`${JSON.stringify({ checkpoint: ckpt.path, backend: backend.name, format: cfg.format, ...result })}\n`);
      return;
    }
    const lines = [
      `exported ${ckpt.path} (${ckpt.writer}) as a TF.js Layers model to ${outDir}`,
      `  ${result.layers} layers, ${result.params.toLocaleString('en-US')} weights (BatchNorm folded, no aux heads)`,
      ...result.files.map((f) => `  ${f.path} (${f.bytes.toLocaleString('en-US')} bytes)`),
      `  check: ${result.check.images} images, max |logit difference| ${result.check.maxAbsDiff.toExponential(2)} (tolerance ${result.check.tolerance} x ${result.check.scale.toPrecision(4)}), argmax agrees on ${result.check.argmaxAgree}/${result.check.images}`,
      `  browser: serve ${outDir} over HTTP and open index.html, or tf.loadLayersModel('<url>/model.json')`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    ckpt.model.dispose();
  }
});
