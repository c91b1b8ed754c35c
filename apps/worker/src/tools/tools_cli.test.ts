// The three commands as real processes on a checkpoint in a real run folder: evaluate and predict
// agree with the same model evaluated in this process, export writes a loadable folder, and bad
// input ends with the documented exit code and one line naming the problem.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { PNG } from 'pngjs';
import { BATCH_IMAGE_FLOATS, CIFAR10_PLANE_BYTES, makeBatch, readCifar10, type CifarSet } from '@gnet/data';
import { createGoogLeNet } from '@gnet/model';
import { CheckpointStore } from '@gnet/run-store';
import { Replica, selectBackend } from '@gnet/training';
import { loadCheckpointModel, type CheckpointModel } from './checkpoint_model.js';
import { evaluateSet, type EvaluationReport } from './evaluate_checkpoint.js';
import type { Prediction } from './predict_images.js';

const DATA_DIR = process.env['CIFAR10_DIR'] || fileURLToPath(new URL('../../../../../shared/data/cifar-10-batches-bin', import.meta.url));
const WORKER_DIR = fileURLToPath(new URL('../..', import.meta.url));
/** Bound on one command (process start, tfjs, the work) on two shared cores. */
const COMMAND_TIMEOUT_MS = 180_000;
const EVAL_IMAGES = 300;

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function runTool(tool: 'evaluate' | 'predict' | 'export', args: string[]): Promise<Outcome> {
  const env = { ...process.env, CIFAR10_DIR: DATA_DIR, GNET_BACKEND: 'wasm', INIT_CWD: WORKER_DIR };
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', `src/tools/${tool}_main.ts`, ...args],
      { cwd: WORKER_DIR, env, timeout: COMMAND_TIMEOUT_MS },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

function pngOf(set: CifarSet, index: number): Buffer {
  const png = new PNG({ width: 32, height: 32 });
  for (let p = 0; p < CIFAR10_PLANE_BYTES; p++) {
    for (let c = 0; c < 3; c++) png.data[4 * p + c] = set.images[index * 3 * CIFAR10_PLANE_BYTES + c * CIFAR10_PLANE_BYTES + p]!;
    png.data[4 * p + 3] = 255;
  }
  return PNG.sync.write(png);
}

describe('evaluate, predict and export commands', () => {
  let dir = '';
  let test: CifarSet;
  let ckpt: CheckpointModel;

  before(async () => {
    await selectBackend({ requested: 'wasm', log: { info: () => undefined } });
    dir = await mkdtemp(join(tmpdir(), 'gnet-tools-cli-'));
    test = await readCifar10(DATA_DIR, 'test');
    // A run folder as a coordinator leaves it, with a model whose BatchNorm statistics moved.
    const model = createGoogLeNet({ width: 0.0625 }, 9);
    tf.tidy(() => {
      model.forward(
        tf.tensor4d(makeBatch(test, [9000, 9001, 9002, 9003], new Float32Array(4 * BATCH_IMAGE_FLOATS), { augment: null }), [4, 32, 32, 3]),
        { training: true, seed: 1 },
      );
    });
    const replica = new Replica(model, { momentum: 0.9, nesterov: true, weightDecay: 0 });
    const meta = {
      runId: 'cli',
      position: { epoch: 1, stepInEpoch: 0, globalStep: 3 },
      epochs: [],
      hyper: {},
      model: { width: 0.0625, auxHeads: true, batchNorm: true, dropout: 0.4, auxDropout: 0.7 },
      worldSize: 2,
    };
    await new CheckpointStore(join(dir, 'run', 'checkpoints')).save(replica.snapshot(meta), 3);
    model.dispose();
    ckpt = await loadCheckpointModel(join(dir, 'run'));
    for (const i of [0, 1]) await writeFile(join(dir, `test${i}.png`), pngOf(test, i));
    await writeFile(join(dir, 'notes.png'), 'plain text');
  });
  after(async () => {
    ckpt.model.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('evaluate --json reports what evaluateSet gives in this process', async () => {
    const out = await runTool('evaluate', [
      '--checkpoint',
      join(dir, 'run'),
      '--limit',
      String(EVAL_IMAGES),
      '--batch-size',
      '50',
      '--json',
    ]);
    assert.equal(out.code, 0, out.stderr);
    const report = JSON.parse(out.stdout) as EvaluationReport;
    const sums = evaluateSet(ckpt.inference, test, EVAL_IMAGES, 50);
    assert.equal(report.checkpoint, ckpt.path);
    assert.equal(report.writer, 'coordinator');
    assert.equal(report.images, EVAL_IMAGES);
    assert.deepEqual(report.confusion, sums.confusion);
    assert.equal(report.accuracy, sums.correct / EVAL_IMAGES);
    assert.ok(Math.abs(report.loss - sums.lossSum / EVAL_IMAGES) < 1e-5);
  });

  it('predict --json ranks the classes as the model does on the same test images', async () => {
    const files = [join(dir, 'test0.png'), join(dir, 'test1.png')];
    const out = await runTool('predict', ['--checkpoint', ckpt.path, '--top-k', '10', '--json', ...files]);
    assert.equal(out.code, 0, out.stderr);
    const { predictions } = JSON.parse(out.stdout) as { predictions: Prediction[] };
    const probabilities = tf.tidy(() => {
      const x = tf.tensor4d(makeBatch(test, [0, 1], new Float32Array(2 * BATCH_IMAGE_FLOATS), { augment: null }), [2, 32, 32, 3]);
      return tf.softmax(ckpt.inference.forward(x, { training: false }).logits).arraySync() as number[][];
    });
    predictions.forEach((p, i) => {
      assert.equal(p.file, files[i]);
      assert.equal(p.top.length, 10);
      p.top.forEach((c) => assert.ok(Math.abs(c.probability - probabilities[i]![c.label]!) < 1e-6, `${p.file} ${c.name}`));
      assert.ok(
        p.top.every((c, k) => k === 0 || c.probability <= p.top[k - 1]!.probability),
        'most probable first',
      );
    });
    const text = await runTool('predict', ['--checkpoint', ckpt.path, files[0]!]);
    assert.match(text.stdout, new RegExp(`^${files[0]}: \\w+ \\d+\\.\\d%, \\w+ \\d+\\.\\d%, \\w+ \\d+\\.\\d%\\n$`));
  });

  it('export writes model.json, its shard and index.html, and reports the check', async () => {
    const outDir = join(dir, 'web');
    const out = await runTool('export', ['--checkpoint', ckpt.path, '--out', outDir]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /argmax agrees on 8\/8/);
    assert.deepEqual((await readdir(outDir)).sort(), ['group1-shard1of1.bin', 'index.html', 'model.json']);
  });

  it('ends with exit 1 and one line naming an unusable image or checkpoint, exit 2 for bad flags', async () => {
    const bad = join(dir, 'notes.png');
    const image = await runTool('predict', ['--checkpoint', ckpt.path, join(dir, 'test0.png'), bad]);
    assert.equal(image.code, 1);
    assert.equal(
      image.stderr,
      `predict failed: ImageInputError [TOOL_IMAGE_UNSUPPORTED]: Image ${bad} must be a PNG or JPEG file, but it is not an image we recognise (first bytes 70 6c 61 69 6e 20 74 65)\n`,
    );
    const missing = join(dir, 'missing.ckpt');
    const checkpoint = await runTool('export', ['--checkpoint', missing, '--out', join(dir, 'never')]);
    assert.equal(checkpoint.code, 1);
    assert.match(
      checkpoint.stderr,
      new RegExp(`^export failed: CheckpointError \\[CKPT_NOT_FOUND\\]: Cannot read checkpoint ${missing}: ENOENT`),
    );
    const flags = await runTool('evaluate', ['--checkpoint', ckpt.path, '--limit', '-1']);
    assert.equal(flags.code, 2);
    assert.equal(flags.stderr, 'evaluate: --limit: Too small: expected number to be >=0, but got -1\n');
    const help = await runTool('predict', ['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: predict \[options\] <image\.\.\.>/);
  });
});
