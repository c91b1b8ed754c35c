// `nx run worker:predict -- --checkpoint <file> [--top-k 3] <image...>`: PNG or JPEG images of any
// size, prepared as image_input.ts says, through a checkpoint's inference network: one line per
// image with its top-k classes, or (--json) one JSON object on stdout. Logs go to stderr.
import { selectBackend } from '@gnet/training';
import { loadCheckpointModel } from './checkpoint_model.js';
import { prepareImages } from './image_input.js';
import { formatPrediction, predictImages } from './predict_images.js';
import { parsePredictConfig } from './tool_config.js';
import { runTool, toolLogger, userPath } from './tool_runtime.js';

runTool('predict', async () => {
  const env = process.env;
  const cfg = parsePredictConfig(process.argv.slice(2), env);
  const log = toolLogger(cfg.logLevel, 'predict');
  log.info({ config: cfg }, 'config resolved');
  // Images first: a bad path fails before the model is loaded. Errors name the path as typed.
  const images = await prepareImages(cfg.images.map((file) => userPath(file, env)));
  const shown = images.map((image, i) => ({ ...image, file: cfg.images[i]! }));
  const checkpoint = userPath(cfg.checkpoint, env);
  const backend = await selectBackend({ requested: cfg.backend, log: log.child({ module: 'backend' }) });
  const ckpt = await loadCheckpointModel(checkpoint, log.child({ module: 'checkpoint' }));
  try {
    const predictions = predictImages(ckpt.inference, shown, cfg.topK, cfg.batchSize);
    if (cfg.json) {
      process.stdout.write(
        `${JSON.stringify({ checkpoint: ckpt.path, backend: backend.name, writer: ckpt.writer, position: ckpt.position, predictions })}\n`,
      );
    } else {
      process.stdout.write(predictions.map((p) => `${formatPrediction(p)}\n`).join(''));
    }
  } finally {
    ckpt.model.dispose();
  }
});
