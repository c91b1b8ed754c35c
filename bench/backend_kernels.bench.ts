// Benchmark of @gnet/training's backend kernels: GFLOP/s of forward conv, dx (Conv2DBackpropInput)
// and dW (Conv2DBackpropFilter) for GoogLeNet's typical layer shapes, tfjs's stock kernels vs ours,
// measured in the same run on each available backend; optionally a kernel-time profile of a
// GoogLeNet-like training step. FLOPs are 2·N·OH·OW·KH·KW·Cin·Cout for all three (multiply-adds x2).
// Run: node --conditions=source --import tsx bench/backend_kernels.bench.ts
//        [--backends wasm,cpu] [--batch 32] [--cpu-batch 1] [--reps 3] [--max-seconds 20]
//        [--profile] [--profile-batch 8] [--profile-width 1]
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { pino } from 'pino';
import { registerTrainingKernels, selectBackend, unregisterTrainingKernels, type PureBackendName } from '@gnet/training';
import { buildGoogLeNetLike } from './googlenet_like.js';

const { values: args } = parseArgs({
  options: {
    backends: { type: 'string', default: 'tensorflow,wasm,cpu' },
    batch: { type: 'string', default: '32' },
    // cpu's stock dW runs at ~0.01 GFLOP/s: batch 32 would take ~25 min for the first layer alone.
    'cpu-batch': { type: 'string', default: '1' },
    reps: { type: 'string', default: '3' },
    // A kernel slower than this is timed once, not `reps` times.
    'max-seconds': { type: 'string', default: '20' },
    profile: { type: 'boolean', default: false },
    'profile-batch': { type: 'string', default: '8' },
    'profile-width': { type: 'string', default: '1' },
  },
});

interface ConvLayer {
  readonly name: string;
  readonly h: number;
  readonly cin: number;
  readonly cout: number;
  readonly k: number;
  readonly stride: number;
}

// GoogLeNet-on-CIFAR shapes (kuangliu's table), 'same' padding.
const LAYERS: readonly ConvLayer[] = [
  { name: '32x32x192 3x3->128', h: 32, cin: 192, cout: 128, k: 3, stride: 1 },
  { name: '32x32x192 1x1->64 (a3 1x1)', h: 32, cin: 192, cout: 64, k: 1, stride: 1 },
  { name: '16x16x96 3x3->208 (a4 3x3)', h: 16, cin: 96, cout: 208, k: 3, stride: 1 },
  { name: '16x16x480 1x1->192 (a4 1x1)', h: 16, cin: 480, cout: 192, k: 1, stride: 1 },
  { name: '8x8x832 1x1->48 (b5 5x5 reduce)', h: 8, cin: 832, cout: 48, k: 1, stride: 1 },
  { name: '8x8x48 5x5->128 (b5 5x5)', h: 8, cin: 48, cout: 128, k: 5, stride: 1 },
  { name: '8x8x48 3x3->128 (b5 3x3 chain)', h: 8, cin: 48, cout: 128, k: 3, stride: 1 },
  { name: '16x16x256 3x3/2->256 (stride 2)', h: 16, cin: 256, cout: 256, k: 3, stride: 2 },
];

const reps = Math.max(1, Number(args.reps));
const maxMs = Number(args['max-seconds']) * 1000;

/** Fastest of `reps` runs in ms (one run if the first exceeds --max-seconds). */
function timeMs(run: () => tf.Tensor, prepare: () => void = () => {}): number {
  let best = Infinity;
  for (let i = 0; i <= reps; i++) {
    prepare();
    const t0 = performance.now();
    const out = run();
    out.dataSync();
    const ms = performance.now() - t0;
    out.dispose();
    if (i > 0 || ms > maxMs) best = Math.min(best, ms); // i = 0 is warm-up unless it is all we can afford
    if (ms > maxMs) break;
  }
  return best;
}

interface Row {
  backend: string;
  batch: number;
  layer: string;
  fwd: number;
  /** [stock, ours]: GFLOP/s, null where the kernel is missing, 'stock' where ours is the stock one. */
  dx: [number | null, number | null | 'stock'];
  dw: [number | null, number | null | 'stock'];
}

function benchLayer(backend: string, batch: number, l: ConvLayer): Row {
  const oh = Math.ceil(l.h / l.stride);
  const gflop = (2 * batch * oh * oh * l.k * l.k * l.cin * l.cout) / 1e9;
  const rate = (ms: number): number => gflop / (ms / 1000);
  const x = tf.randomNormal([batch, l.h, l.h, l.cin], 0, 1, 'float32', 1) as tf.Tensor4D;
  const filter = tf.randomNormal([l.k, l.k, l.cin, l.cout], 0, 0.1, 'float32', 2) as tf.Tensor4D;
  const dy = tf.randomNormal([batch, oh, oh, l.cout], 0, 1, 'float32', 3) as tf.Tensor4D;
  const common = { strides: l.stride, pad: 'same', dataFormat: 'NHWC' } as const;
  const dx = (): tf.Tensor =>
    tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, { ...common, inputShape: [...x.shape] }) as tf.Tensor;
  const dw = (): tf.Tensor =>
    tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...common, filterShape: [...filter.shape] }) as tf.Tensor;
  // A fresh copy of the filter per run: in training the weights change every step, so wasm's
  // XNNPACK cannot reuse the packed filter it caches per tensor.
  let fresh: tf.Tensor4D | null = null;
  const fwd = timeMs(
    () => tf.conv2d(x, fresh!, l.stride, 'same'),
    () => {
      fresh?.dispose();
      fresh = tf.clone(filter);
    },
  );
  const pure = backend === 'wasm' || backend === 'cpu';
  const has = (kernel: string): boolean => tf.getKernel(kernel, backend) !== undefined;
  if (pure) unregisterTrainingKernels(backend as PureBackendName);
  const stock: [number | null, number | null] = [
    has('Conv2DBackpropInput') ? rate(timeMs(dx)) : null,
    has('Conv2DBackpropFilter') ? rate(timeMs(dw)) : null,
  ];
  let ours: [number | null | 'stock', number | null | 'stock'] = [null, null];
  if (pure) {
    const replaced = registerTrainingKernels(backend as PureBackendName);
    // A kernel the backend's plan leaves stock is not timed twice.
    ours = [
      replaced.includes('Conv2DBackpropInput') ? rate(timeMs(dx)) : 'stock',
      replaced.includes('Conv2DBackpropFilter') ? rate(timeMs(dw)) : 'stock',
    ];
  }
  tf.dispose([x, filter, dy, fresh!]);
  return { backend, batch, layer: l.name, fwd: rate(fwd), dx: [stock[0], ours[0]], dw: [stock[1], ours[1]] };
}

const fmt = (v: number | null | 'stock'): string => (v === null ? '—' : v === 'stock' ? '(stock)' : v < 0.1 ? v.toFixed(3) : v.toFixed(2));
const ratio = ([stockRate, oursRate]: [number | null, number | null | 'stock']): string =>
  oursRate === 'stock'
    ? '1x'
    : stockRate === null
      ? oursRate === null
        ? '—'
        : 'new'
      : oursRate === null
        ? '—'
        : `${(oursRate / stockRate).toFixed(1)}x`;

function printRows(rows: Row[]): void {
  const head = ['backend', 'N', 'layer', 'fwd', 'dx stock', 'dx ours', 'dx ours/stock', 'dW stock', 'dW ours', 'dW ours/stock'];
  const cells = rows.map((r) => [
    r.backend,
    String(r.batch),
    r.layer,
    fmt(r.fwd),
    fmt(r.dx[0]),
    fmt(r.dx[1]),
    ratio(r.dx),
    fmt(r.dw[0]),
    fmt(r.dw[1]),
    ratio(r.dw),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => `| ${c.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  console.log('GFLOP/s (higher is better); — = no such kernel on that backend; new = only ours exists; (stock) = ours is the stock kernel');
  console.log(line(head));
  console.log(line(widths.map((width) => '-'.repeat(width))));
  for (const c of cells) console.log(line(c));
}

async function profileStep(backend: string): Promise<void> {
  const batch = Number(args['profile-batch']);
  const width = Number(args['profile-width']);
  const net = buildGoogLeNetLike(width);
  const x = tf.randomNormal([batch, 32, 32, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
  const labels = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: batch }, (_, i) => i % 10),
      'int32',
    ),
    10,
  ) as tf.Tensor2D;
  net.step(x, labels); // warm-up
  const t0 = performance.now();
  net.step(x, labels);
  const stepMs = performance.now() - t0;
  const info = await tf.profile(() => void net.step(x, labels));
  const byKernel = new Map<string, { ms: number; calls: number }>();
  for (const k of info.kernels) {
    const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += Number(await k.kernelTimeMs);
    e.calls += 1;
    byKernel.set(k.name, e);
  }
  const total = [...byKernel.values()].reduce((s, e) => s + e.ms, 0);
  console.log(
    `\n${backend}: GoogLeNet-like step, batch ${batch}, width ${width}: ${stepMs.toFixed(0)} ms (kernel time under tf.profile: ${total.toFixed(0)} ms)`,
  );
  console.log('| kernel | ms | share | calls |\n| --- | --- | --- | --- |');
  for (const [name, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15)) {
    console.log(`| ${name} | ${e.ms.toFixed(0)} | ${((100 * e.ms) / total).toFixed(1)}% | ${e.calls} |`);
  }
  tf.dispose([x, labels, ...net.variables]);
}

const log = pino({ level: 'info' }, pino.destination(2));
const rows: Row[] = [];
for (const requested of String(args.backends).split(',') as ('tensorflow' | 'wasm' | 'cpu')[]) {
  try {
    await selectBackend({ requested, log });
  } catch (err) {
    console.log(`${requested}: not available (${(err as Error).message.split(': ').slice(1).join(': ')})`);
    continue;
  }
  const batch = requested === 'cpu' ? Number(args['cpu-batch']) : Number(args.batch);
  for (const layer of LAYERS) rows.push(benchLayer(requested, batch, layer));
  printRows(rows.filter((r) => r.backend === requested));
  if (args.profile && requested !== 'cpu') await profileStep(requested);
}
