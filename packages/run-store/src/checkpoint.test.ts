import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assertSlotsMatch,
  CheckpointError,
  decodeCheckpoint,
  encodeCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
  type CheckpointState,
} from './checkpoint.js';

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

test('a flipped byte, a truncation or a foreign file are refused with a typed error naming the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
  try {
    const path = join(dir, 'c.ckpt');
    await saveCheckpoint(path, sample());
    const bytes = await readFile(path);
    const isCorrupt = (file: string, reason: RegExp) => (e: unknown) =>
      e instanceof CheckpointError && e.code === 'CKPT_CORRUPT' && e.message.startsWith(join(dir, file)) && reason.test(e.message);

    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 40]! ^= 0x01; // inside the body
    await writeFile(join(dir, 'flipped.ckpt'), flipped);
    await assert.rejects(
      loadCheckpoint(join(dir, 'flipped.ckpt')),
      isCorrupt('flipped.ckpt', /failed its SHA-256 check: expected [0-9a-f]{64}, got [0-9a-f]{64}/),
    );

    // A bit flip in the metadata keeps the JSON valid ("epoch":3 -> "epoch":2); format 1 missed it.
    const meta = Buffer.from(bytes);
    const at = meta.indexOf('"epoch":3');
    assert.ok(at > 0);
    meta[at + 8]! ^= 0x01;
    await writeFile(join(dir, 'meta.ckpt'), meta);
    await assert.rejects(loadCheckpoint(join(dir, 'meta.ckpt')), isCorrupt('meta.ckpt', /failed its SHA-256 check/));

    await writeFile(join(dir, 'short.ckpt'), bytes.subarray(0, bytes.length - 4));
    await assert.rejects(
      loadCheckpoint(join(dir, 'short.ckpt')),
      isCorrupt('short.ckpt', new RegExp(`is truncated: it holds ${bytes.length - 4} bytes, but its header describes ${bytes.length}`)),
    );
    await writeFile(join(dir, 'long.ckpt'), Buffer.concat([bytes, Buffer.from([0])]));
    await assert.rejects(loadCheckpoint(join(dir, 'long.ckpt')), isCorrupt('long.ckpt', /trailing bytes/));
    await writeFile(join(dir, 'headless.ckpt'), bytes.subarray(0, 40));
    await assert.rejects(
      loadCheckpoint(join(dir, 'headless.ckpt')),
      isCorrupt('headless.ckpt', /is truncated: its \d+-byte header runs past the end of a 40-byte file/),
    );
    await writeFile(join(dir, 'stub.ckpt'), bytes.subarray(0, 5));
    await assert.rejects(
      loadCheckpoint(join(dir, 'stub.ckpt')),
      isCorrupt('stub.ckpt', /is truncated: it holds 5 bytes, fewer than the 16-byte prefix/),
    );
    await writeFile(join(dir, 'empty.ckpt'), '');
    await assert.rejects(loadCheckpoint(join(dir, 'empty.ckpt')), isCorrupt('empty.ckpt', /is truncated: it holds 0 bytes/));
    await writeFile(join(dir, 'foreign.ckpt'), 'hello world, not a checkpoint');
    await assert.rejects(
      loadCheckpoint(join(dir, 'foreign.ckpt')),
      isCorrupt('foreign.ckpt', /is not a checkpoint: expected magic 'GNETCKPT'/),
    );

    const future = Buffer.from(bytes);
    future.writeUInt32LE(9, 8);
    await writeFile(join(dir, 'future.ckpt'), future);
    await assert.rejects(
      loadCheckpoint(join(dir, 'future.ckpt')),
      (e: unknown) =>
        e instanceof CheckpointError &&
        e.code === 'CKPT_INCOMPATIBLE' &&
        /future\.ckpt has format version 9, but this build reads versions 1 and 2/.test(e.message),
    );

    await assert.rejects(
      loadCheckpoint(join(dir, 'missing.ckpt')),
      (e: unknown) => e instanceof CheckpointError && e.code === 'CKPT_NOT_FOUND' && e.message.includes(join(dir, 'missing.ckpt')),
    );
    await mkdir(join(dir, 'folder.ckpt'));
    await assert.rejects(
      loadCheckpoint(join(dir, 'folder.ckpt')),
      (e: unknown) =>
        e instanceof CheckpointError && e.code === 'CKPT_UNREADABLE' && /Cannot read checkpoint .*folder\.ckpt: EISDIR/.test(e.message),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a header that parses but lacks a section is refused, even with a valid checksum', () => {
  const bytes = encodeCheckpoint(sample());
  const headerLength = bytes.readUInt32LE(12);
  const header = JSON.parse(bytes.toString('utf8', 16, 16 + headerLength)) as { sections: unknown[] };
  header.sections = header.sections.slice(0, 2);
  const headerBytes = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.from(bytes.subarray(0, 16));
  prefix.writeUInt32LE(headerBytes.length, 12);
  const unsigned = Buffer.concat([prefix, headerBytes, bytes.subarray(16 + headerLength, bytes.length - 32)]);
  const rebuilt = Buffer.concat([unsigned, createHash('sha256').update(unsigned).digest()]);
  assert.throws(
    () => decodeCheckpoint(rebuilt, 'x.ckpt'),
    (e: unknown) =>
      e instanceof CheckpointError &&
      e.code === 'CKPT_CORRUPT' &&
      e.message === "x.ckpt has a malformed header: it has 0 'velocity' sections, expected 1",
  );
});

test('format version 1 files (body-only checksum, no trailer) still load', () => {
  const s = sample();
  const body = Buffer.concat([s.weights, s.buffers, s.velocity].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)));
  const header = {
    meta: s.meta,
    weightSlots: s.weightSlots,
    bufferSlots: s.bufferSlots,
    sections: [
      { name: 'weights', offset: 0, length: 9 },
      { name: 'buffers', offset: 9, length: 2 },
      { name: 'velocity', offset: 11, length: 9 },
    ],
    bodySha256: createHash('sha256').update(body).digest('hex'),
  };
  const headerBytes = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(16);
  prefix.write('GNETCKPT', 0, 'latin1');
  prefix.writeUInt32LE(1, 8);
  prefix.writeUInt32LE(headerBytes.length, 12);
  const v1 = Buffer.concat([prefix, headerBytes, body]);
  const back = decodeCheckpoint(v1, 'v1.ckpt');
  assert.deepEqual(back.meta, s.meta);
  assert.deepEqual([...back.velocity], [...s.velocity]);
  const flipped = Buffer.from(v1);
  flipped[flipped.length - 1]! ^= 0x80;
  assert.throws(() => decodeCheckpoint(flipped, 'v1.ckpt'), /v1\.ckpt failed its SHA-256 check/);
});

test('saveCheckpoint replaces an existing file and leaves no temporary file, also when it fails', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
  try {
    const path = join(dir, 'c.ckpt');
    await saveCheckpoint(path, sample());
    const second = { ...sample(), meta: { epoch: 4 } };
    await saveCheckpoint(path, second);
    assert.deepEqual((await loadCheckpoint(path)).meta, { epoch: 4 });
    assert.deepEqual(await readdir(dir), ['c.ckpt']);
    await assert.rejects(saveCheckpoint(join(dir, 'no-such-folder', 'c.ckpt'), sample()), /ENOENT/);
    // Renaming over a folder fails after the temporary file was written: it must be removed.
    await mkdir(join(dir, 'taken.ckpt'));
    await assert.rejects(saveCheckpoint(join(dir, 'taken.ckpt'), sample()), /EISDIR/);
    assert.deepEqual((await readdir(dir)).sort(), ['c.ckpt', 'taken.ckpt']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('slot mismatch names both tensors', () => {
  const s = sample();
  const other = [{ ...s.weightSlots[0]!, shape: [3, 2] }, s.weightSlots[1]!];
  assert.throws(
    () => assertSlotsMatch('weights', s.weightSlots, other, 'x.ckpt'),
    /x\.ckpt weights tensor 0 is a\/kernel\[3x2\], but the model expects a\/kernel\[2x3\]/,
  );
  assert.throws(
    () => assertSlotsMatch('weights', s.weightSlots, [s.weightSlots[0]!], 'x.ckpt'),
    (e: unknown) => e instanceof CheckpointError && e.code === 'CKPT_INCOMPATIBLE',
  );
});
