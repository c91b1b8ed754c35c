// One GoogLeNet-sized convolution (inception 4's 3x3 branch at CIFAR scale by default:
// [32, 32, 32, 192] * [3, 3, 192, 128], stride 1, 'same'), forward, dx and dW, in ms per call on
// 'onednn' (1 thread and all threads) against tfjs's 'cpu' and 'wasm' backends. Prints figures,
// asserts nothing. Compare ratios within one run, never absolute figures across machines.
//
//   npm run bench -w @gnet/native-cpu -- --batch 32 --reps 5 --ref-batch 1
//
// The reference backends are 10-3000x slower (cpu's dW: ~40 s per image at this size), so they run
// once at --ref-batch images and are scaled linearly to --batch (a convolution's cost is linear in
// the batch); the table marks those figures.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { ONEDNN_BACKEND, loadNativeAddon, registerOneDnnBackend } from '../src/index.js';

const { values: opts } = parseArgs({
  options: {
    batch: { type: 'string', default: '32' }, // images per call on onednn
    reps: { type: 'string', default: '5' }, // timed calls per kernel on onednn (after one warm-up)
    'ref-batch': { type: 'string', default: '1' }, // images per call on cpu and wasm
    h: { type: 'string', default: '32' }, // pixels; the map is h x h
    cin: { type: 'string', default: '192' },
    cout: { type: 'string', default: '128' },
    k: { type: 'string', default: '3' },
    skip: { type: 'string', default: '' }, // comma-separated backends to leave out: cpu,wasm
  },
});
const batch = Number(opts.batch);
const reps = Number(opts.reps);
const refBatch = Number(opts['ref-batch']);
const [h, cin, cout, k] = [Number(opts.h), Number(opts.cin), Number(opts.cout), Number(opts.k)];
const skip = new Set(opts.skip.split(',').filter((s) => s !== ''));

const KERNELS = ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'] as const;
type KernelName = (typeof KERNELS)[number];
const LABEL: Record<KernelName, string> = { Conv2D: 'forward', Conv2DBackpropInput: 'dx', Conv2DBackpropFilter: 'dW' };

/** Multiply-adds x 2 of one call at `n` images (the same for all three kernels). */
const gflop = (n: number): number => (2 * n * h * h * k * k * cin * cout) / 1e9;

/** Median ms per call of `kernel` at `n` images on the current backend, or why it cannot run. */
function time(kernel: KernelName, n: number, calls: number, warmUp: boolean): number | string {
  const x = tf.randomNormal([n, h, h, cin]);
  const filter = tf.randomNormal([k, k, cin, cout]);
  const dy = tf.randomNormal([n, h, h, cout]);
  const conv = { strides: 1, pad: 'same', dataFormat: 'NHWC' } as const;
  const run = (): tf.Tensor => {
    if (kernel === 'Conv2D') return tf.engine().runKernel(kernel, { x, filter }, { ...conv, dilations: 1 }) as tf.Tensor;
    if (kernel === 'Conv2DBackpropInput') {
      return tf.engine().runKernel(kernel, { dy, filter }, { ...conv, inputShape: [n, h, h, cin] }) as tf.Tensor;
    }
    return tf.engine().runKernel(kernel, { x, dy }, { ...conv, filterShape: [k, k, cin, cout] }) as tf.Tensor;
  };
  try {
    if (warmUp) tf.dispose(run());
    const ms: number[] = [];
    for (let i = 0; i < calls; i++) {
      const start = performance.now();
      const out = run();
      out.dataSync(); // cpu and onednn are synchronous; wasm too, but be sure
      ms.push(performance.now() - start);
      out.dispose();
    }
    ms.sort((a, b) => a - b);
    return ms[Math.floor(ms.length / 2)]!;
  } catch (err) {
    return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
  } finally {
    tf.dispose([x, filter, dy]);
  }
}

function cpuModel(): string {
  const info = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.*)/.exec(info)?.[1] ?? 'unknown CPU';
  const avx512 = info.split('\n').filter((l) => l.startsWith('flags') && / avx512f /.test(`${l} `)).length;
  return `${model}; ${avx512} cores with avx512f`;
}

interface Row {
  backend: string;
  n: number;
  ms: Record<KernelName, number | string>;
}

async function main(): Promise<void> {
  const reg = registerOneDnnBackend();
  if (!reg.registered) throw new Error(`conv.bench: the onednn backend is unavailable: ${reg.reason}`);
  const addon = loadNativeAddon().addon!;
  const allThreads = reg.info.maxThreads;
  console.log(
    `conv [${batch}, ${h}, ${h}, ${cin}] * [${k}, ${k}, ${cin}, ${cout}] stride 1 'same': ${gflop(batch).toFixed(2)} GFLOP per call`,
  );
  console.log(`${cpuModel()}; oneDNN ${reg.info.version} ${reg.info.isa} (${reg.info.cpuRuntime}); tfjs ${tf.version_core}`);

  const rows: Row[] = [];
  await tf.setBackend(ONEDNN_BACKEND);
  for (const threads of [...new Set([1, allThreads])]) {
    addon.setNumThreads(threads);
    const ms = Object.fromEntries(KERNELS.map((kn) => [kn, time(kn, batch, reps, true)])) as Row['ms'];
    rows.push({ backend: `onednn ${threads} thread${threads > 1 ? 's' : ''}`, n: batch, ms });
  }
  addon.setNumThreads(allThreads);
  for (const backend of ['wasm', 'cpu'].filter((b) => !skip.has(b))) {
    await tf.setBackend(backend);
    // One call each: the warm-up would double minutes of cpu dW. wasm's first forward call
    // includes XNNPACK's setup, so it gets a warm-up.
    const ms = Object.fromEntries(KERNELS.map((kn) => [kn, time(kn, refBatch, 1, backend === 'wasm')])) as Row['ms'];
    rows.push({ backend: `${backend} 1 thread`, n: refBatch, ms });
  }

  const base = rows[0]!;
  const cell = (v: number | string, n: number, kn: KernelName): string => {
    if (typeof v === 'string') return 'n/a';
    const scaled = (v * batch) / n;
    const ref = base.ms[kn];
    const ratio = typeof ref === 'number' ? ` (${(scaled / ref).toFixed(1)}x)` : '';
    return `${scaled.toFixed(1)} ms${n !== batch ? '*' : ''}${ratio}`;
  };
  console.log(`\nms per call at batch ${batch} (ratio to onednn 1 thread); * = measured at batch ${refBatch}, scaled x${batch / refBatch}`);
  console.log(['backend'.padEnd(18), ...KERNELS.map((kn) => LABEL[kn].padEnd(24))].join(''));
  for (const r of rows) console.log([r.backend.padEnd(18), ...KERNELS.map((kn) => cell(r.ms[kn], r.n, kn).padEnd(24))].join(''));
  for (const r of rows) {
    for (const kn of KERNELS) if (typeof r.ms[kn] === 'string') console.log(`${r.backend} ${LABEL[kn]}: ${r.ms[kn]}`);
  }
  const gf = (r: Row, kn: KernelName): string => {
    const v = r.ms[kn];
    return typeof v === 'number' ? `${(gflop(r.n) / (v / 1000)).toFixed(1)}` : 'n/a';
  };
  console.log(`\nGFLOP/s: ${rows.map((r) => `${r.backend} ${KERNELS.map((kn) => gf(r, kn)).join('/')}`).join('; ')}`);
}

await main();
