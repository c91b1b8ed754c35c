// The export end to end: a GoogLeNet with non-trivial BatchNorm statistics (running statistics from
// training-mode passes over real CIFAR-10 images, random gamma and beta) goes through a checkpoint
// file, is exported to a folder, loaded back with tf.loadLayersModel from those files, and must
// give the source's logits and probabilities on real CIFAR-10 test images.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { BATCH_IMAGE_FLOATS, makeBatch, readCifar10, Rng, type CifarSet } from '@gnet/data';
import { createGoogLeNet, type GoogLeNetConfig } from '@gnet/model';
import { saveCheckpoint } from '@gnet/run-store';
import { Replica, selectBackend } from '@gnet/training';
import { loadCheckpointModel, type CheckpointModel } from './checkpoint_model.js';
import { compareLogits, EXPORT_LOGIT_TOLERANCE, exportLayersModel, logitsOfBoth, randomCheckImages } from './export_model.js';
import { buildLayersModel, LAYERS_NAMES, logitsModel } from './layers_graph.js';
import { DEFAULT_SHARD_BYTES, folderLoadHandler, folderSaveHandler, MODEL_JSON, type WrittenFile } from './layers_files.js';

const DATA_DIR = process.env['CIFAR10_DIR'] || fileURLToPath(new URL('../../../../../shared/data/cifar-10-batches-bin', import.meta.url));
/** Real test images compared (the first ones of the test split). */
const TEST_IMAGES = 64;
/** Probabilities are softmax of the logits: their error is at most about the logits' (|d softmax| <= 1/2 per logit), in absolute terms. */
const PROBABILITY_TOLERANCE = 1e-5;

/** Layer classes a plain Layers model may contain: nothing custom, no BatchNorm, no dropout. */
const STANDARD_LAYERS = new Set(['InputLayer', 'Conv2D', 'MaxPooling2D', 'Concatenate', 'GlobalAveragePooling2D', 'Dense', 'Activation']);

function normalised(set: CifarSet, first: number, count: number): Float32Array {
  const out = new Float32Array(count * BATCH_IMAGE_FLOATS);
  return makeBatch(
    set,
    Int32Array.from({ length: count }, (_, i) => first + i),
    out,
    { augment: null },
  );
}

/**
 * A model whose inference BatchNorm is far from the identity: gamma in [0.5, 1.5], beta in
 * [-0.3, 0.3], and running statistics from five training-mode passes over real training images.
 */
function trainedLookingModel(config: Partial<GoogLeNetConfig>, train: CifarSet, seed: number) {
  const model = createGoogLeNet(config, seed);
  const rng = new Rng(seed);
  for (const { name, variable } of model.params) {
    const jitter = (centre: number, spread: number) =>
      tf.tensor(
        Float32Array.from({ length: variable.size }, () => centre + spread * (2 * rng.next() - 1)),
        variable.shape,
      );
    if (name.endsWith('/bn/gamma')) variable.assign(jitter(1, 0.5));
    else if (name.endsWith('/bn/beta') || name.endsWith('/bias')) variable.assign(jitter(0, 0.3));
  }
  for (let pass = 0; pass < 5; pass++) {
    tf.tidy(() => {
      const x = tf.tensor4d(normalised(train, pass * 16, 16), [16, 32, 32, 3]);
      model.forward(x, { training: true, seed: pass });
    });
  }
  return model;
}

async function checkpointOf(
  config: Partial<GoogLeNetConfig>,
  train: CifarSet,
  dir: string,
  seed: number,
): Promise<{ path: string; ckpt: CheckpointModel }> {
  const model = trainedLookingModel(config, train, seed);
  const replica = new Replica(model, { momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
  const path = join(dir, `source-${seed}.ckpt`);
  // The meta single-node training writes (packages/training single_node_run.ts).
  const full = { width: 0.125, auxHeads: true, batchNorm: true, numClasses: 10, dropout: 0.4, auxDropout: 0.7, ...config };
  await saveCheckpoint(
    path,
    replica.snapshot({
      position: { epoch: 1, stepInEpoch: 0, globalStep: 5 },
      epochs: [],
      partial: {},
      hp: {},
      model: { name: 'test', ...full, backend: 'wasm' },
    }),
  );
  model.dispose();
  return { path, ckpt: await loadCheckpointModel(path) };
}

describe('export as a TF.js Layers model', () => {
  let dir = '';
  let train: CifarSet;
  let test: CifarSet;

  before(async () => {
    await selectBackend({ requested: 'wasm', log: { info: () => undefined } });
    dir = await mkdtemp(join(tmpdir(), 'gnet-export-'));
    train = await readCifar10(DATA_DIR, 'train');
    test = await readCifar10(DATA_DIR, 'test');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads back from its files with tf.loadLayersModel and matches the checkpoint on real test images', async () => {
    const { path, ckpt } = await checkpointOf({ width: 0.125 }, train, dir, 7);
    const out = join(dir, 'export-bn');
    const result = await exportLayersModel(ckpt, out, randomCheckImages(8, 1), path);
    assert.ok(result.check.maxAbsDiff <= EXPORT_LOGIT_TOLERANCE * result.check.scale, `self-check ${result.check.maxAbsDiff}`);

    const names = (await readdir(out)).sort();
    assert.deepEqual(names, ['group1-shard1of1.bin', 'index.html', MODEL_JSON]);
    const modelJson = JSON.parse(await readFile(join(out, MODEL_JSON), 'utf8')) as tf.io.ModelJSON;
    const layers = (modelJson.modelTopology as { class_name: string; config: { layers: { class_name: string; name: string }[] } }).config
      .layers;
    assert.equal((modelJson.modelTopology as { class_name: string }).class_name, 'Model');
    assert.equal(modelJson.format, 'layers-model');
    assert.deepEqual(
      [...new Set(layers.map((l) => l.class_name))].filter((c) => !STANDARD_LAYERS.has(c)),
      [],
    );
    assert.ok(!layers.some((l) => l.name.startsWith('aux')), 'no auxiliary head in the export');
    // Stem + 9 modules x 6 conv units, each one Conv2D (BatchNorm folded into it).
    assert.equal(layers.filter((l) => l.class_name === 'Conv2D').length, 1 + 9 * 6);
    const inferenceWeights = ckpt.inference.params.filter((p) => !p.name.includes('/bn/')).reduce((n, p) => n + p.variable.size, 0);
    const convBiases = ckpt.inference.params.filter((p) => p.name.endsWith('/bn/beta')).reduce((n, p) => n + p.variable.size, 0);
    assert.equal(result.params, inferenceWeights + convBiases, 'weights = kernels + classifier + one bias per conv channel');
    const shardBytes = (await stat(join(out, 'group1-shard1of1.bin'))).size;
    assert.equal(shardBytes, result.params * 4);

    const loaded = await tfl.loadLayersModel(folderLoadHandler(out));
    try {
      const images = normalised(test, 0, TEST_IMAGES);
      const { expected, actual } = logitsOfBoth(ckpt.inference, loaded, images);
      const logits = compareLogits(expected, actual, 10);
      assert.ok(
        logits.maxAbsDiff <= EXPORT_LOGIT_TOLERANCE * logits.scale,
        `max |logit diff| ${logits.maxAbsDiff} > ${EXPORT_LOGIT_TOLERANCE} x ${logits.scale}`,
      );
      assert.equal(logits.argmaxAgree, TEST_IMAGES, 'argmax agrees on every image');
      // The logits are not all alike (a constant network would pass the comparison trivially).
      const spread = Math.max(...expected) - Math.min(...expected);
      assert.ok(spread > 0.5, `logits spread ${spread}`);
      const probabilities = tf.tidy(() => {
        const x = tf.tensor4d(images, [TEST_IMAGES, 32, 32, 3]);
        return {
          expected: tf.softmax(ckpt.inference.forward(x, { training: false }).logits).dataSync() as Float32Array,
          actual: (loaded.predict(x) as tf.Tensor).dataSync() as Float32Array,
        };
      });
      const probs = compareLogits(probabilities.expected, probabilities.actual, 10);
      assert.ok(probs.maxAbsDiff <= PROBABILITY_TOLERANCE, `max |probability diff| ${probs.maxAbsDiff}`);
      assert.equal(probs.argmaxAgree, TEST_IMAGES);
      const meta = loaded.getUserDefinedMetadata() as { classes: string[]; input: { mean: number[]; std: number[] } };
      assert.equal(meta.classes[3], 'cat');
      assert.deepEqual(meta.input.mean, [0.4914, 0.4822, 0.4465]);
      console.log(
        `# export check: ${TEST_IMAGES} test images, max |logit diff| ${logits.maxAbsDiff.toExponential(2)} (scale ${logits.scale.toFixed(2)}), max |prob diff| ${probs.maxAbsDiff.toExponential(2)}`,
      );
    } finally {
      loaded.dispose();
      ckpt.model.dispose();
    }
    const html = await readFile(join(out, 'index.html'), 'utf8');
    assert.match(html, /tf\.loadLayersModel\('model\.json'\)/);
  });

  it('without BatchNorm (conv biases), in several shards, gives the same predictions', async () => {
    const { path, ckpt } = await checkpointOf({ width: 0.0625, batchNorm: false, auxHeads: false }, train, dir, 11);
    const layers = buildLayersModel(ckpt.inference);
    const written: WrittenFile[] = [];
    const out = join(dir, 'export-shards');
    try {
      await layers.save(folderSaveHandler(out, written, 16 * 1024));
    } finally {
      layers.dispose();
    }
    const shards = written.filter((f) => f.path.endsWith('.bin'));
    assert.ok(shards.length >= 3, `${shards.length} shards`);
    assert.ok(shards.every((f) => f.bytes <= 16 * 1024));
    assert.ok(DEFAULT_SHARD_BYTES === 4 * 1024 * 1024);
    const loaded = await tfl.loadLayersModel(folderLoadHandler(out));
    try {
      const { expected, actual } = logitsOfBoth(ckpt.inference, loaded, normalised(test, 100, 32));
      const c = compareLogits(expected, actual, 10);
      assert.ok(c.maxAbsDiff <= EXPORT_LOGIT_TOLERANCE * c.scale, `${path}: max |logit diff| ${c.maxAbsDiff}`);
      assert.equal(c.argmaxAgree, 32);
      assert.equal(logitsModel(loaded).outputs[0]!.shape[1], 10);
      assert.equal(loaded.getLayer(LAYERS_NAMES.probabilities).getClassName(), 'Activation');
      // Saved again into the same folder in one shard: the earlier shards are removed.
      await loaded.save(folderSaveHandler(out, []));
      assert.deepEqual((await readdir(out)).sort(), ['group1-shard1of1.bin', MODEL_JSON]);
    } finally {
      loaded.dispose();
      ckpt.model.dispose();
    }
  });

  it('compareLogits measures the largest difference and the argmax agreement', () => {
    const expected = Float32Array.from([1, 2, 3, 0, -1, 5]);
    const actual = Float32Array.from([1, 2.5, 2.9, 0, -1, 5.001]);
    const c = compareLogits(expected, actual, 3);
    assert.equal(c.images, 2);
    assert.ok(Math.abs(c.maxAbsDiff - 0.5) < 1e-6);
    assert.equal(c.scale, 5);
    assert.equal(c.argmaxAgree, 2);
    const swapped = compareLogits(expected, Float32Array.from([1, 3.5, 3, 0, -1, 5]), 3);
    assert.equal(swapped.argmaxAgree, 1);
    assert.throws(() => compareLogits(expected, actual.subarray(0, 3), 3), {
      name: 'RangeError',
      message: '`expected` and `actual` passed to `compareLogits` must both hold n * 3 values, but hold 6 and 3',
    });
  });
});
