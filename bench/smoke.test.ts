// Keeps the benchmarks from rotting: each script runs as a real process with a tiny budget and must
// print its table. (The figures themselves come from full runs, never from tests.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));
const node = (script: string, args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, ['--conditions=source', '--import', 'tsx', script, ...args], { cwd: here, timeout: 180_000, maxBuffer: 1 << 24, env: { ...process.env, ...env } });

test('augment bench prints images/s for every case', async () => {
  const { stdout } = await node('augment.bench.ts', [process.env['CIFAR10_DIR'] ?? fileURLToPath(new URL('../../shared/data/cifar-10-batches-bin', import.meta.url)), '0.2']);
  const figures = stdout.match(/[\d,.]+ images\/s/g) ?? [];
  assert.ok(figures.length >= 3, stdout);
});

test('training throughput bench prints a row per case', async () => {
  const { stdout } = await node('train_throughput.bench.ts', ['--budget-s', '0', '--backends', 'wasm', '--widths', '0.0625', '--batches', '4']);
  assert.match(stdout, /\| wasm \| 0\.0625 \| 4 \| 4 \| ~?[\d.]+ \| ~?[\d.]+ \| ~?[\d.]+ \| ~?[\d.]+ \|/);
});

test('all-reduce bench runs ring over ws and raw TCP between real processes and prints their ratio', async () => {
  const { stdout } = await node('allreduce.bench.ts', ['1', '65536'], {
    BENCH_FLOATS: '100000',
    BENCH_SKIP_THROUGHPUT: '1',
    BENCH_WORLD_SIZES: '2',
    BENCH_ALGORITHMS: 'ring-ws,ring-tcp',
  });
  assert.match(stdout, /\| 2 \| ring-ws +\| +[\d.]+ \|/);
  assert.match(stdout, /\| 2 \| ring-tcp +\| +[\d.]+ \|/);
  assert.match(stdout, /N=2: ws-ring \/ tcp-ring = \d+\.\d+/);
});

test('scaling bench trains with 1 and 2 local workers and prints the speed-up', { timeout: 600_000 }, async () => {
  const { stdout } = await run(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'scaling.bench.ts', '--width', '0.0625', '--train-limit', '128', '--batch-size', '32', '--epochs', '1'],
    { cwd: here, timeout: 600_000, maxBuffer: 1 << 24 },
  );
  assert.match(stdout, /\| 1 \| float32 \| [\d.]+ \| 1\.00x \| [\d.]+% \| [\d.]+% \| [\d.]+% \|/);
  assert.match(stdout, /\| 2 \| float32 \| [\d.]+ \| [\d.]+x \| [\d.]+% \| [\d.]+% \| [\d.]+% \|/);
});
