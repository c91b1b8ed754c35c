// Training and inference throughput of GoogLeNet on every TF.js backend that loads here, for width 1
// and 0.25 at batch 32 and 128, with the achieved GFLOP/s (analytic FLOPs from @gnet/model: training
// ≈ 3x the forward pass — forward, input gradient, filter gradient — plus the auxiliary heads).
//
// Run: node --conditions=source --import tsx bench/train_throughput.bench.ts [--budget-s 60] [--backends wasm,cpu]
//      [--widths 1,0.25] [--batches 32,128]
// Each case runs one warm-up step, then timed steps until its time budget is spent (at least one).
// A case whose warm-up alone exceeds the budget is reported from that single step, marked '~'.
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { createGoogLeNet, flopsPerImage, type GoogLeNetConfig } from '@gnet/model';
import { Replica, evaluateImages, emptyEvalSums, maxMicroBatch, selectBackend, type BackendName } from '@gnet/training';

const { values } = parseArgs({
  options: {
    'budget-s': { type: 'string', default: '60' },
    backends: { type: 'string', default: 'tensorflow,wasm,cpu' },
    widths: { type: 'string', default: '1,0.25' },
    batches: { type: 'string', default: '32,128' },
  },
});
const budgetS = Number(values['budget-s']);
const silent = { info: () => undefined };

function syntheticBatch(n: number): { images: Float32Array; labels: Int32Array } {
  const images = new Float32Array(n * 3072);
  for (let i = 0; i < images.length; i++) images[i] = Math.sin(i * 0.37) * 1.5;
  return { images, labels: Int32Array.from({ length: n }, (_, i) => i % 10) };
}

interface Row {
  backend: string;
  width: number;
  batch: number;
  micro: number;
  trainIps: string;
  trainGflops: string;
  inferIps: string;
  inferGflops: string;
}

function timeUntilBudget(fn: () => void, images: number): { ips: number; approx: boolean } {
  const w0 = performance.now();
  fn(); // warm-up: kernel compilation, memory growth
  const warmS = (performance.now() - w0) / 1000;
  if (warmS > budgetS) return { ips: images / warmS, approx: true };
  let steps = 0;
  const t0 = performance.now();
  do {
    fn();
    steps++;
  } while ((performance.now() - t0) / 1000 < budgetS && steps < 20);
  return { ips: (images * steps) / ((performance.now() - t0) / 1000), approx: false };
}

const rows: Row[] = [];
for (const requested of values.backends.split(',') as BackendName[]) {
  let backend: BackendName;
  try {
    backend = (await selectBackend({ requested, log: silent })).name;
  } catch (err) {
    console.log(`# ${requested}: unavailable — ${(err as Error).message.split('\n')[0]}`);
    continue;
  }
  for (const width of values.widths.split(',').map(Number)) {
    const config: GoogLeNetConfig = { width, auxHeads: true, batchNorm: true, numClasses: 10, dropout: 0.4, auxDropout: 0.7 };
    const flops = flopsPerImage(config);
    const trainFlops = 3 * (flops.forward + flops.auxForward);
    const model = createGoogLeNet(config, 1);
    const replica = new Replica(model, { momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
    for (const batch of values.batches.split(',').map(Number)) {
      const micro = Math.min(batch, maxMicroBatch(backend, width));
      const data = syntheticBatch(batch);
      const train = timeUntilBudget(() => {
        replica.zeroGrad();
        replica.accumulate(
          { ...data, count: batch },
          { microBatch: micro, labelSmoothing: 0.1, auxWeight: 0.3, lossScale: 1 / batch, seed: 1 },
        );
        replica.apply(0.01);
      }, batch);
      const infer = timeUntilBudget(() => {
        evaluateImages(model, data.images, data.labels, batch, micro, emptyEvalSums(10));
      }, batch);
      const mark = (a: boolean) => (a ? '~' : '');
      rows.push({
        backend,
        width,
        batch,
        micro,
        trainIps: mark(train.approx) + train.ips.toFixed(2),
        trainGflops: mark(train.approx) + ((train.ips * trainFlops) / 1e9).toFixed(2),
        inferIps: mark(infer.approx) + infer.ips.toFixed(1),
        inferGflops: mark(infer.approx) + ((infer.ips * flops.forward) / 1e9).toFixed(2),
      });
      console.log(JSON.stringify(rows.at(-1)));
    }
    model.dispose();
    tf.disposeVariables();
  }
}
console.log(
  '\n| backend | width | batch | micro-batch | train img/s | train GFLOP/s | infer img/s | infer GFLOP/s |\n|---|---|---|---|---|---|---|---|',
);
for (const r of rows)
  console.log(
    `| ${r.backend} | ${r.width} | ${r.batch} | ${r.micro} | ${r.trainIps} | ${r.trainGflops} | ${r.inferIps} | ${r.inferGflops} |`,
  );
console.log(`\n('~': a single step exceeded the ${budgetS} s budget; figure from that step alone)`);
