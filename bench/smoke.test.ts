// Keeps the benchmarks from rotting: each script runs as a real process with a tiny budget and must
// print its table. (The figures themselves come from full runs, never from tests.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));
const node = (script: string, args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, ['--conditions=source', '--import', 'tsx', script, ...args], {
    cwd: here,
    timeout: 180_000,
    maxBuffer: 1 << 24,
    env: { ...process.env, ...env },
  });

test('augment bench prints images/s for every case', async () => {
  const { stdout } = await node('augment.bench.ts', [
    process.env['CIFAR10_DIR'] ?? fileURLToPath(new URL('../../shared/data/cifar-10-batches-bin', import.meta.url)),
    '0.2',
  ]);
  const figures = stdout.match(/[\d,.]+ images\/s/g) ?? [];
  assert.ok(figures.length >= 3, stdout);
});

test('training throughput bench prints a row per case', async () => {
  const { stdout } = await node('train_throughput.bench.ts', [
    '--budget-s',
    '0',
    '--backends',
    'wasm',
    '--widths',
    '0.0625',
    '--batches',
    '4',
  ]);
  assert.match(stdout, /\| wasm \| 0\.0625 \| 4 \| 4 \| ~?[\d.]+ \| ~?[\d.]+ \| ~?[\d.]+ \| ~?[\d.]+ \|/);
});

test('all-reduce bench runs ring over ws, wss and raw TCP between real processes, interleaved, and prints their ratios', async () => {
  const { stdout } = await node('allreduce.bench.ts', ['1', '65536'], {
    BENCH_FLOATS: '100000',
    BENCH_SKIP_THROUGHPUT: '1',
    BENCH_WORLD_SIZES: '2',
    BENCH_ALGORITHMS: 'ring-ws,ring-tcp,ring-wss',
    BENCH_REPEATS: '2',
  });
  for (const algorithm of ['ring-ws', 'ring-tcp', 'ring-wss'])
    assert.match(stdout, new RegExp(`\\| 2 \\| ${algorithm} +\\| +[\\d.]+ \\|`), stdout);
  assert.match(stdout, /N=2: ws-ring \/ tcp-ring = \d+\.\d+ \(per repeat: \d+\.\d+, \d+\.\d+\)/);
  assert.match(stdout, /N=2: wss-ring \/ ws-ring \(the cost of TLS\) = \d+\.\d+ \(per repeat: \d+\.\d+, \d+\.\d+\)/);
});

test(
  'scaling bench trains with 1 and 2 local workers and 2 independent runs, and prints the speed-up and the share of the ceiling',
  { timeout: 600_000 },
  async () => {
    const { stdout } = await run(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        'scaling.bench.ts',
        '--width',
        '0.0625',
        '--train-limit',
        '128',
        '--per-worker-batch',
        '16',
        '--epochs',
        '1',
        '--ceiling',
      ],
      { cwd: here, timeout: 600_000, maxBuffer: 1 << 24 },
    );
    const split = String.raw`\d+ \(\d+ / \d+\)`;
    assert.match(
      stdout,
      new RegExp(String.raw`\| 1 \| float32 \| [\d.]+ \| 1\.00x \| — \| ${split} \| [\d.]+% \| [\d.]+% \| [\d.]+% \|`),
      stdout,
    );
    assert.match(
      stdout,
      new RegExp(String.raw`\| 2 \| float32 \| [\d.]+ \| [\d.]+x \| [\d.]+% \| ${split} \| [\d.]+% \| [\d.]+% \| [\d.]+% \|`),
      stdout,
    );
    assert.match(stdout, /\| 2 independent 1-worker runs at once \(no communication\) \| float32 \| [\d.]+ \| [\d.]+x \| 100% \|/, stdout);
    assert.match(stdout, /batch 16 per worker/);
  },
);

test('soak bench trains 30 steps with a real coordinator and 2 workers and reports memory per worker', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'soak-smoke-'));
  try {
    const out = join(dir, 'soak.json');
    const { stdout } = await run(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        'soak.bench.ts',
        '--steps',
        '30',
        '--steps-per-epoch',
        '10',
        '--warmup-steps',
        '10',
        '--every',
        '10',
        '--out',
        out,
      ],
      { cwd: here, timeout: 600_000, maxBuffer: 1 << 24 },
    );
    // A table row every 10 steps: numTensors and RSS for both workers, the coordinator's RSS.
    for (const step of [10, 20, 30])
      assert.match(stdout, new RegExp(`^\\| ${step} \\| \\d+ \\| [\\d.]+ \\| \\d+ \\| [\\d.]+ \\| [\\d.]+ \\| \\d+ \\|$`, 'm'), stdout);
    assert.match(stdout, /^\| w0 \(rank [01]\) \| 30 \| \d+ \| \d+ \| (yes|NO) \| [\d.]+ -> [\d.]+ \| [+-][\d.]+% \|/m, stdout);
    assert.match(stdout, /^\| w1 \(rank [01]\) \| 30 \| \d+ \| \d+ \| (yes|NO) \| [\d.]+ -> [\d.]+ \| [+-][\d.]+% \|/m, stdout);
    const result = JSON.parse(readFileSync(out, 'utf8')) as {
      workers: { rank: number; steps: number; numTensorsMin: number; numTensorsMax: number; rssWarmBytes: number; rssEndBytes: number }[];
      rows: { step: number; numTensors: number[] }[];
    };
    assert.deepEqual(result.workers.map((worker) => worker.rank).sort(), [0, 1]);
    for (const worker of result.workers) {
      assert.equal(worker.steps, 30);
      // A replica holds hundreds of tensors (weights, momentum, BatchNorm statistics).
      assert.ok(worker.numTensorsMin > 100 && worker.numTensorsMax >= worker.numTensorsMin, JSON.stringify(worker));
      assert.ok(worker.rssWarmBytes > 50 * 1024 * 1024 && worker.rssEndBytes > 50 * 1024 * 1024, JSON.stringify(worker));
    }
    assert.deepEqual(
      result.rows.map((r) => r.step),
      [10, 20, 30],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
