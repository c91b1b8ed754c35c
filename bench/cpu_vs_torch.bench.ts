// GoogLeNet training and inference images/s on our CPU backends ('onednn', 'wasm') and on PyTorch
// (Debian's python3-torch, bench/torch/googlenet_step.py: the same model, NHWC/channels_last,
// the same loss and optimizer) on the same machine in the same run, with the ratio to PyTorch.
// Issue 11's goal: a training step within 1.5x of PyTorch's at width 1 and 0.25, batch 32 and 128.
//
// Run (both sides with the glibc settings PyTorch's CPU guides advise; the script passes its
// environment on to python):
//   MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 \
//     node --conditions=source --import tsx bench/cpu_vs_torch.bench.ts [--widths 1,0.25]
//     [--batches 16,32,128] [--threads 1,2] [--backends onednn,wasm,torch] [--budget-s 10]
//     [--python /usr/bin/python3]
// Each case: one warm-up step (oneDNN's JIT, first allocations), then timed steps until --budget-s
// (at least one, at most 20); only a case whose warm-up alone exceeds 120 s is reported from that
// step, marked '~' (a first step overstates a step's cost: at width 1, batch 128 ours takes ~45 s,
// faulting in the step's ~13 GB, then ~5 s). wasm runs one thread
// (tfjs-backend-wasm in Node is single-threaded) at its 4 GB heap's micro-batch. Prints figures,
// asserts nothing; compare ratios within one run, never absolute figures across machines.
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { createGoogLeNet, type GoogLeNetConfig } from '@gnet/model';
import { Replica, evaluateImages, emptyEvalSums, maxMicroBatch, selectBackend, type BackendName } from '@gnet/training';

const { values } = parseArgs({
  options: {
    'budget-s': { type: 'string', default: '10' },
    backends: { type: 'string', default: 'onednn,wasm,torch' },
    widths: { type: 'string', default: '1,0.25' },
    batches: { type: 'string', default: '16,32,128' },
    threads: { type: 'string', default: '1,2' },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});
const budgetS = Number(values['budget-s']);
/** A warm-up step longer than this is the measurement (see the header). */
const WARM_UP_LIMIT_S = 120;
const list = (s: string): number[] => s.split(',').map(Number);
const TORCH_SCRIPT = fileURLToPath(new URL('./torch/googlenet_step.py', import.meta.url));

interface Measure {
  trainIps: number;
  trainApprox: boolean;
  inferIps: number;
  inferApprox: boolean;
}

function timeUntilBudget(fn: () => void, images: number): { ips: number; approx: boolean } {
  const w0 = performance.now();
  fn();
  const warmS = (performance.now() - w0) / 1000;
  if (warmS > WARM_UP_LIMIT_S) return { ips: images / warmS, approx: true };
  let steps = 0;
  const t0 = performance.now();
  do {
    fn();
    steps++;
  } while ((performance.now() - t0) / 1000 < budgetS && steps < 20);
  return { ips: (images * steps) / ((performance.now() - t0) / 1000), approx: false };
}

function syntheticBatch(n: number): { images: Float32Array; labels: Int32Array } {
  const images = Float32Array.from({ length: n * 3072 }, (_, i) => Math.sin(i * 0.37) * 1.5);
  return { images, labels: Int32Array.from({ length: n }, (_, i) => i % 10) };
}

function measureTfjs(backend: BackendName, width: number, batch: number): Measure {
  const config: GoogLeNetConfig = { width, auxHeads: true, batchNorm: true, numClasses: 10, dropout: 0.4, auxDropout: 0.7 };
  const model = createGoogLeNet(config, 1);
  const replica = new Replica(model, { momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
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
  const infer = timeUntilBudget(() => void evaluateImages(model, data.images, data.labels, batch, micro, emptyEvalSums(10)), batch);
  model.dispose();
  tf.disposeVariables();
  return { trainIps: train.ips, trainApprox: train.approx, inferIps: infer.ips, inferApprox: infer.approx };
}

function measureTorch(width: number, batch: number, threads: number): Measure | string {
  const args = [
    TORCH_SCRIPT,
    '--width',
    String(width),
    '--batch',
    String(batch),
    '--threads',
    String(threads),
    '--budget-s',
    String(budgetS),
  ];
  const r = spawnSync(values.python, args, { encoding: 'utf8', env: process.env, timeout: (20 * budgetS + 600) * 1000 });
  if (r.status !== 0) return `${values.python} failed: ${(r.error?.message ?? r.stderr).trim().split('\n').at(-1)}`;
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Measure;
}

interface Row extends Measure {
  backend: string;
  width: number;
  batch: number;
  threads: number;
}

const silent = { info: () => undefined };
const rows: Row[] = [];
const backends = values.backends.split(',');
if (process.env.MALLOC_MMAP_MAX_ === undefined)
  console.log('# note: MALLOC_MMAP_MAX_ is not set: PyTorch runs without the glibc settings (see the header)');
console.log(`# ${cpus()[0]?.model ?? 'cpu'}, ${cpus().length} cores; budget ${budgetS} s per measurement`);
for (const width of list(values.widths)) {
  for (const batch of list(values.batches)) {
    for (const threads of list(values.threads)) {
      for (const backend of backends) {
        if (backend === 'wasm' && threads !== 1) continue;
        let m: Measure | string;
        if (backend === 'torch') m = measureTorch(width, batch, threads);
        else {
          try {
            await selectBackend({ requested: backend as BackendName, threads, log: silent });
            m = measureTfjs(backend as BackendName, width, batch);
          } catch (err) {
            m = (err as Error).message.split('\n')[0]!;
          }
        }
        if (typeof m === 'string') {
          console.log(`# ${backend} width ${width} batch ${batch} threads ${threads}: ${m}`);
          continue;
        }
        rows.push({ backend, width, batch, threads, ...m });
        console.log(JSON.stringify(rows.at(-1)));
      }
    }
  }
}

const fmt = (ips: number, approx: boolean): string => `${approx ? '~' : ''}${ips >= 100 ? ips.toFixed(0) : ips.toFixed(1)}`;
const torchOf = (r: Row): Row | undefined =>
  rows.find((t) => t.backend === 'torch' && t.width === r.width && t.batch === r.batch && t.threads === r.threads);
const ratio = (torch: number | undefined, ours: number): string => (torch === undefined ? 'n/a' : `${(torch / ours).toFixed(2)}x`);
console.log(
  '\n| width | batch | threads | backend | train img/s | train: PyTorch faster by | infer img/s | infer: PyTorch faster by |\n|---|---|---|---|---|---|---|---|',
);
for (const r of rows) {
  const t = torchOf(r);
  const own = r.backend === 'torch';
  console.log(
    `| ${r.width} | ${r.batch} | ${r.threads} | ${r.backend} | ${fmt(r.trainIps, r.trainApprox)} | ${own ? '' : ratio(t?.trainIps, r.trainIps)} | ${fmt(r.inferIps, r.inferApprox)} | ${own ? '' : ratio(t?.inferIps, r.inferIps)} |`,
  );
}
console.log(
  `\n('~': the warm-up step exceeded ${WARM_UP_LIMIT_S} s; figure from that first step alone. Ratio: PyTorch's images/s over ours, same width, batch and threads; wasm is compared at 1 thread.)`,
);
