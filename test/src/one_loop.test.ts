// Single-process training is the one-worker case of distributed training: `worker:train` and a
// coordinator with one local `worker:serve`, with the same recipe and seed, run the same step
// (StepRunner), on the same batches, crops, flips and dropout masks, and write the same records.
// So their metrics files must hold the same lines (timing fields aside) and their final
// checkpoints the same weights, BatchNorm statistics and momentum, bit for bit. The recipe keeps
// everything random on (augmentation, dropout, aux heads, BatchNorm), so a drifted seed shows.
// Both use oneDNN with one thread: a different thread count may sum a convolution's gradient in
// another order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunFolder, type CheckpointState } from '@gnet/run-store';
import { CIFAR10_TEST_DIR } from './cifar_dir.js';
import { COORDINATOR_ENTRY } from './distributed_group.js';
import { runApp, type ProcessResult } from './run_process.js';

const RECIPE = [
  ...[
    '--width',
    '0.125',
    '--epochs',
    '2',
    '--batch-size',
    '32',
    '--micro-batch',
    '16',
    '--lr',
    '0.05',
    '--warmup-epochs',
    '0.5',
    '--seed',
    '7',
  ],
  ...[
    '--train-limit',
    '128',
    '--eval-limit',
    '100',
    '--eval-batch',
    '50',
    '--backend',
    'onednn',
    '--data-dir',
    CIFAR10_TEST_DIR,
    '--log-level',
    'warn',
  ],
];
/** Fields that measure time, not training: they differ between any two runs. */
const TIMING_FIELDS = ['seconds', 'imagesPerSecond', 'communicationShare', 'meanStepMs'];

async function metricsLines(runDir: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(join(runDir, 'metrics.jsonl'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((line) =>
      Object.fromEntries(Object.entries(JSON.parse(line) as Record<string, unknown>).filter(([key]) => !TIMING_FIELDS.includes(key))),
    );
}

async function finalCheckpoint(runDir: string): Promise<CheckpointState & { path: string }> {
  const loaded = await new RunFolder(runDir).checkpoints().loadLatestGood();
  assert.ok(loaded !== null, `${runDir} holds no checkpoint`);
  return { ...loaded.state, path: loaded.path };
}

const bytes = (values: Float32Array): Buffer => Buffer.from(values.buffer, values.byteOffset, values.byteLength);
const failed = (name: string, r: ProcessResult): string =>
  `${name} exited ${r.code}${r.timedOut ? ' (timed out)' : ''}: ${r.stderr.slice(-4000)}`;

test(
  'worker:train and a one-worker coordinator:serve write the same metrics and end with bit-identical state',
  { timeout: 4 * 60_000 },
  async () => {
    const single = await mkdtemp(join(tmpdir(), 'one-loop-single-'));
    const group = await mkdtemp(join(tmpdir(), 'one-loop-group-'));
    try {
      // One after the other: the 2-core machines of CI would otherwise time two runs sharing cores.
      const trained = await runApp('apps/worker/src/train_main.ts', [...RECIPE, '--threads', '1', '--no-progress', '--run-dir', single], {
        timeoutMs: 3 * 60_000,
      });
      assert.equal(trained.code, 0, failed('worker:train', trained));
      const served = await runApp(
        COORDINATOR_ENTRY,
        [
          ...RECIPE,
          '--local-workers',
          '1',
          '--local-worker-args',
          '--threads 1',
          '--port',
          '0',
          '--wire-dtype',
          'float32',
          '--run-dir',
          group,
        ],
        { timeoutMs: 3 * 60_000 },
      );
      assert.equal(served.code, 0, failed('coordinator:serve', served));

      const [singleLines, groupLines] = await Promise.all([metricsLines(single), metricsLines(group)]);
      assert.deepEqual(
        singleLines.map((l) => l['kind']),
        ['epoch', 'epoch', 'test'],
      );
      assert.deepEqual(singleLines, groupLines);
      // The comparison must be able to fail: the runs learned something, and every field is a number.
      assert.ok(singleLines.slice(0, 2).every((l) => typeof l['trainLoss'] === 'number' && Number.isFinite(l['trainLoss'])));

      const [a, b] = await Promise.all([finalCheckpoint(single), finalCheckpoint(group)]);
      assert.match(a.path, /ckpt-0*8\.ckpt$/, 'the epoch-end checkpoint after 2 epochs of 4 steps');
      assert.match(b.path, /ckpt-0*8\.ckpt$/);
      assert.deepEqual(a.weightSlots, b.weightSlots);
      assert.deepEqual(a.bufferSlots, b.bufferSlots);
      assert.ok(bytes(a.weights).equals(bytes(b.weights)), 'final weights differ');
      assert.ok(bytes(a.buffers).equals(bytes(b.buffers)), 'final BatchNorm statistics differ');
      assert.ok(bytes(a.velocity).equals(bytes(b.velocity)), 'final momentum differs');
      const meta = (s: CheckpointState): unknown => {
        const { position, epochs, worldSize } = s.meta as { position: unknown; epochs: unknown[]; worldSize: number };
        return { position, worldSize, epochs: epochs.length };
      };
      assert.deepEqual(meta(a), meta(b));
    } finally {
      await rm(single, { recursive: true, force: true });
      await rm(group, { recursive: true, force: true });
    }
  },
);
