import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertSlotsMatch, CheckpointError, loadCheckpoint, saveCheckpoint, type CheckpointState } from './checkpoint.js';

function sample(): CheckpointState {
  const weightSlots = [
    { name: 'a/kernel', shape: [2, 3], offset: 0, size: 6 },
    { name: 'a/bias', shape: [3], offset: 6, size: 3 },
  ];
  return {
    meta: { epoch: 3, step: 120, rng: [1, 2, 3, 4] },
    weightSlots,
    bufferSlots: [{ name: 'bn/mean', shape: [2], offset: 0, size: 2 }],
    weights: Float32Array.from({ length: 9 }, (_, i) => i * 0.5 - 1),
    buffers: Float32Array.from([0.25, -0.75]),
    velocity: Float32Array.from({ length: 9 }, (_, i) => Math.fround(Math.PI * i)),
  };
}

test('round trip is bit-exact and leaves no temp files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
  try {
    const path = join(dir, 'epoch-3.ckpt');
    const s = sample();
    await saveCheckpoint(path, s);
    const back = await loadCheckpoint(path);
    assert.deepEqual(back.meta, s.meta);
    assert.deepEqual([...back.weights], [...s.weights]);
    assert.deepEqual([...back.buffers], [...s.buffers]);
    assert.deepEqual([...back.velocity], [...s.velocity]);
    assert.deepEqual(back.weightSlots, s.weightSlots);
    assert.deepEqual(await readdir(dir), ['epoch-3.ckpt']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a flipped byte, a truncation or a foreign file are refused with a typed error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
  try {
    const path = join(dir, 'c.ckpt');
    await saveCheckpoint(path, sample());
    const bytes = await readFile(path);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 3]! ^= 0x01;
    await writeFile(join(dir, 'flipped.ckpt'), flipped);
    await assert.rejects(loadCheckpoint(join(dir, 'flipped.ckpt')), (e: unknown) => e instanceof CheckpointError && e.code === 'CKPT_CORRUPT' && /SHA-256/.test(e.message));
    await writeFile(join(dir, 'short.ckpt'), bytes.subarray(0, bytes.length - 4));
    await assert.rejects(loadCheckpoint(join(dir, 'short.ckpt')), /body holds \d+ bytes, but its header describes \d+/);
    await writeFile(join(dir, 'foreign.ckpt'), 'hello world, not a checkpoint');
    await assert.rejects(loadCheckpoint(join(dir, 'foreign.ckpt')), /is not a checkpoint: expected magic 'GNETCKPT'/);
    await assert.rejects(loadCheckpoint(join(dir, 'missing.ckpt')), (e: unknown) => e instanceof CheckpointError && e.code === 'CKPT_NOT_FOUND');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('slot mismatch names both tensors', () => {
  const s = sample();
  const other = [{ ...s.weightSlots[0]!, shape: [3, 2] }, s.weightSlots[1]!];
  assert.throws(() => assertSlotsMatch('weights', s.weightSlots, other, 'x.ckpt'), /x\.ckpt weights tensor 0 is a\/kernel\[3x2\], but the model expects a\/kernel\[2x3\]/);
  assert.throws(() => assertSlotsMatch('weights', s.weightSlots, [s.weightSlots[0]!], 'x.ckpt'), (e: unknown) => e instanceof CheckpointError && e.code === 'CKPT_INCOMPATIBLE');
});
