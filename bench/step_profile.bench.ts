// One GoogLeNet training step on a backend: steady-state step time (after --warm-up steps), CPU
// time, page faults and RSS per step, the buffer pool's counters on 'onednn', and a tf.profile
// kernel table (time per kernel name; a customGrad op such as batchNormTrain includes the kernels
// it runs, so shares overlap). Prints figures, asserts nothing.
//
// Run: node --conditions=source --import tsx bench/step_profile.bench.ts [--backend onednn]
//        [--width 1] [--batch 32] [--threads 2] [--warm-up 3] [--steps 5] [--top 20]
import { resourceUsage } from 'node:process';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { createGoogLeNet } from '@gnet/model';
import { Replica, maxMicroBatch, selectBackend, type BackendName } from '@gnet/training';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'onednn' },
    width: { type: 'string', default: '1' },
    batch: { type: 'string', default: '32' },
    threads: { type: 'string', default: '2' },
    'warm-up': { type: 'string', default: '3' },
    steps: { type: 'string', default: '5' },
    top: { type: 'string', default: '20' },
  },
});
const backend = values.backend as BackendName;
const width = Number(values.width);
const batch = Number(values.batch);
const selection = await selectBackend({ requested: backend, threads: Number(values.threads), log: { info: () => undefined } });
const model = createGoogLeNet({ width, auxHeads: true, batchNorm: true, numClasses: 10, dropout: 0.4, auxDropout: 0.7 }, 1);
const replica = new Replica(model, { momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
const images = Float32Array.from({ length: batch * 3072 }, (_, i) => Math.sin(i * 0.37));
const labels = Int32Array.from({ length: batch }, (_, i) => i % 10);
const micro = Math.min(batch, maxMicroBatch(backend, width));
const step = (): void => {
  replica.zeroGrad();
  replica.accumulate(
    { images, labels, count: batch },
    { microBatch: micro, labelSmoothing: 0.1, auxWeight: 0.3, lossScale: 1 / batch, seed: 1 },
  );
  replica.apply(0.01);
};

const w0 = performance.now();
step();
const firstMs = performance.now() - w0;
for (let i = 1; i < Number(values['warm-up']); i++) step();
const steps = Number(values.steps);
const r0 = resourceUsage();
const t0 = performance.now();
for (let i = 0; i < steps; i++) step();
const ms = (performance.now() - t0) / steps;
const r1 = resourceUsage();
const per = (a: number, b: number, unit: number): string => ((b - a) / steps / unit).toFixed(0);
console.log(`${selection.name} (${selection.reason}); width ${width}, batch ${batch}, micro-batch ${micro}`);
console.log(
  `first step ${(firstMs / 1000).toFixed(1)} s; steady step ${ms.toFixed(0)} ms = ${((batch / ms) * 1000).toFixed(1)} img/s; per step: user ${per(r0.userCPUTime, r1.userCPUTime, 1000)} ms, ` +
    `system ${per(r0.systemCPUTime, r1.systemCPUTime, 1000)} ms, minor faults ${per(r0.minorPageFault, r1.minorPageFault, 1)}; RSS ${(process.memoryUsage().rss / 1e9).toFixed(2)} GB`,
);
const pool = (tf.backend() as { pool?: { stats: object; heldBytes: number } }).pool;
if (pool !== undefined) console.log(`buffer pool: ${JSON.stringify(pool.stats)}, holding ${(pool.heldBytes / 1e9).toFixed(2)} GB`);

const info = await tf.profile(step);
const byKernel = new Map<string, { ms: number; calls: number }>();
for (const k of info.kernels) {
  const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
  e.ms += Number(await k.kernelTimeMs);
  e.calls++;
  byKernel.set(k.name, e);
}
console.log('\n| kernel | ms | calls |\n|---|---|---|');
for (const [name, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(values.top)))
  console.log(`| ${name} | ${e.ms.toFixed(0)} | ${e.calls} |`);
