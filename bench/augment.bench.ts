// Benchmark of @gnet/data's makeBatch: images per second assembling normalised NHWC batches of 128
// from the real CIFAR-10 training set, without and with augmentation (crop 4 + flip, and + cutout 16).
// Run: node --conditions=source --import tsx bench/augment.bench.ts [cifarDir] [seconds per case]
import { BATCH_IMAGE_FLOATS, DistributedSampler, makeBatch, readCifar10, Rng, type AugmentOptions } from '@gnet/data';

const dir = process.argv[2] ?? process.env['CIFAR10_DIR'] ?? new URL('../../shared/data/cifar-10-batches-bin', import.meta.url).pathname;
const secondsPerCase = Number(process.argv[3] ?? 3);
const batchSize = 128;

const train = await readCifar10(dir, 'train');
const order = new DistributedSampler({ datasetSize: train.count, worldSize: 1, rank: 0, seed: 1 }).indicesForEpoch(0);
const out = new Float32Array(batchSize * BATCH_IMAGE_FLOATS);

function run(name: string, augment: AugmentOptions | null): void {
  const rng = new Rng(7);
  const opts = { augment, rng };
  // Warm-up so the JIT has compiled the loops before timing.
  for (let b = 0; b < 20; b++) makeBatch(train, order.subarray(b * batchSize, (b + 1) * batchSize), out, opts);
  let images = 0;
  let batch = 0;
  const batchesPerEpoch = Math.floor(order.length / batchSize);
  const started = process.hrtime.bigint();
  let elapsedS = 0;
  while (elapsedS < secondsPerCase) {
    const b = batch++ % batchesPerEpoch;
    makeBatch(train, order.subarray(b * batchSize, (b + 1) * batchSize), out, opts);
    images += batchSize;
    if (batch % 50 === 0) elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  }
  elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(
    `${name.padEnd(28)} ${Math.round(images / elapsedS)
      .toLocaleString('en-US')
      .padStart(10)} images/s  (${((elapsedS * 1e6) / batch).toFixed(0)} us per batch of ${batchSize})`,
  );
}

console.log(`makeBatch, batch ${batchSize}, CIFAR-10 train (${train.count} images), ${secondsPerCase} s per case, node ${process.version}`);
run('no augmentation', null);
run('crop 4 + flip', { crop: 4, flip: true, cutout: 0 });
run('crop 4 + flip + cutout 16', { crop: 4, flip: true, cutout: 16 });
