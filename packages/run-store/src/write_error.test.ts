// What a full (or read-only) disk does to the run folder, on a real 256 KiB tmpfs (issue 10: "a full
// disk: ENOSPC with no path and no hint"): every write that fails is a RunStoreWriteError naming
// the file, the bytes, the mount and what to do, with the errno error as `cause`, and nothing
// half-written is left: no temporary file, no torn checkpoint, no half a metrics line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeCheckpoint, type CheckpointState } from './checkpoint.js';
import { CheckpointStore } from './checkpoint_store.js';
import { TEMP_MARKER, writeFileDurable } from './durable_write.js';
import { remountReadOnly, withFullDiskFolder } from './testing/full_disk.js';
import { mountPointOf } from './mount_point.js';
import { RunFolder, type TestRecord } from './run_folder.js';
import { RunStoreWriteError } from './write_error.js';

const DISK_BYTES = 256 * 1024;
const PAGE = 4096;

/** A checkpoint state of `floats` weights (and as many velocity floats): about 8 × floats bytes. */
function stateOf(floats: number, globalStep: number): CheckpointState {
  return {
    meta: { globalStep },
    weightSlots: [{ name: 'w', shape: [floats], offset: 0, size: floats }],
    bufferSlots: [{ name: 'b', shape: [1], offset: 0, size: 1 }],
    weights: new Float32Array(floats).fill(globalStep),
    buffers: Float32Array.from([1]),
    velocity: new Float32Array(floats).fill(0.5),
  };
}

/** Writes `path` a page at a time until the disk is full (ENOSPC). */
async function fillUp(path: string): Promise<void> {
  const file = await open(path, 'a');
  try {
    for (;;) await file.write(Buffer.alloc(PAGE, 7));
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC', 'filling the disk ends in ENOSPC');
  } finally {
    await file.close();
  }
}

const tempFiles = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((name) => name.includes(TEMP_MARKER));

/** Asserts the fields every RunStoreWriteError of a full disk carries. */
function assertDiskFull(err: unknown, path: string, bytes: number | null, mount: string, action: string): true {
  assert.ok(err instanceof RunStoreWriteError, `expected RunStoreWriteError, got ${String(err)}`);
  assert.equal(err.code, 'RUN_STORE_DISK_FULL');
  assert.equal(err.path, path);
  assert.equal(err.bytes, bytes);
  assert.equal(err.mount, mount);
  assert.equal(err.hint, `free space on ${mount} or pass --run-dir elsewhere`);
  assert.equal(
    err.message,
    `Could not ${action} ${path}: no space left on the device (ENOSPC); free space on ${mount} or pass --run-dir elsewhere`,
  );
  assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOSPC');
  return true;
}

test('a checkpoint larger than the free space: RunStoreWriteError naming file, bytes and mount; no temp file; the older checkpoint stands', async () => {
  await withFullDiskFolder(DISK_BYTES, async (disk) => {
    const store = new CheckpointStore(join(disk, 'run', 'checkpoints'));
    await store.save(stateOf(1000, 10), 10);
    const big = stateOf(40_000, 20); // ~320 KB: more than the whole disk
    const bytes = encodeCheckpoint(big).byteLength;
    await assert.rejects(store.save(big, 20), (err) => assertDiskFull(err, store.pathFor(20), bytes, disk, `write ${bytes} bytes to`));
    assert.deepEqual(await tempFiles(store.dir), [], 'the temporary file is removed');
    assert.deepEqual(
      (await store.list()).map((e) => e.globalStep),
      [10],
      'no torn checkpoint of step 20',
    );
    const loaded = await store.loadLatestGood();
    assert.equal(loaded?.globalStep, 10);
    assert.deepEqual(loaded?.skipped, []);
  });
});

test('a metrics line that fills the disk part-way is cut back: metrics.jsonl keeps only whole lines', async () => {
  await withFullDiskFolder(DISK_BYTES, async (disk) => {
    const folder = new RunFolder(join(disk, 'run'));
    await folder.init({ seed: 1 });
    const first: TestRecord = { kind: 'test', split: 'test', loss: 1, accuracy: 0.5, perClassAccuracy: { cat: 0.5 }, count: 10 };
    await folder.append(first);
    const metricsPath = join(folder.dir, 'metrics.jsonl');
    const before = await readFile(metricsPath, 'utf8');
    // Leave exactly one free page: the next line (3 pages) gets the rest of metrics.jsonl's last
    // page and that free page written, then ENOSPC.
    await writeFile(join(disk, 'pad'), Buffer.alloc(PAGE));
    await fillUp(join(disk, 'filler'));
    await rm(join(disk, 'pad'));
    const perClassAccuracy = Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`class-${i}`, 0.125]));
    const big: TestRecord = { ...first, perClassAccuracy };
    const bytes = Buffer.byteLength(JSON.stringify(big) + '\n');
    assert.ok(bytes > 2 * PAGE);
    await assert.rejects(folder.append(big), (err) => assertDiskFull(err, metricsPath, bytes, disk, `append ${bytes} bytes to`));
    assert.equal(await readFile(metricsPath, 'utf8'), before, 'no half a record at the end of metrics.jsonl');
    assert.deepEqual(await folder.readMetrics(), [first]);
  });
});

test('summary and config on a full disk: the typed error, and neither a temporary nor a partial file', async () => {
  await withFullDiskFolder(DISK_BYTES, async (disk) => {
    const folder = new RunFolder(join(disk, 'run'));
    await folder.init({ seed: 1 });
    await fillUp(join(disk, 'filler'));
    const summary = { note: 'x'.repeat(3 * PAGE) };
    const summaryPath = join(folder.dir, 'summary.json');
    const bytes = Buffer.byteLength(JSON.stringify(summary, null, 2) + '\n');
    await assert.rejects(folder.writeSummary(summary), (err) => assertDiskFull(err, summaryPath, bytes, disk, `write ${bytes} bytes to`));
    assert.deepEqual((await readdir(folder.dir)).sort(), ['checkpoints', 'config.json'], 'no summary.json, no temporary file');
  });
});

test('a read-only mount is RUN_STORE_READ_ONLY with its own hint', async () => {
  await withFullDiskFolder(DISK_BYTES, async (disk) => {
    await mkdir(join(disk, 'run'));
    await remountReadOnly(disk);
    const path = join(disk, 'run', 'config.json');
    await assert.rejects(writeFileDurable(path, Buffer.from('{}\n')), (err) => {
      assert.ok(err instanceof RunStoreWriteError);
      assert.equal(err.code, 'RUN_STORE_READ_ONLY');
      assert.equal(
        err.message,
        `Could not write 3 bytes to ${path}: read-only file system (EROFS); ${disk} is mounted read-only: pass --run-dir elsewhere`,
      );
      assert.equal((err.cause as NodeJS.ErrnoException).code, 'EROFS');
      return true;
    });
  });
});

test('other errors pass through unchanged', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gnet-write-error-'));
  try {
    await assert.rejects(writeFileDurable(join(dir, 'missing-folder', 'x'), Buffer.from('x')), (err) => {
      assert.ok(!(err instanceof RunStoreWriteError));
      assert.equal((err as NodeJS.ErrnoException).code, 'ENOENT');
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('mountPointOf: the longest mount holding the nearest existing folder, octal escapes decoded', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gnet mount '));
  try {
    const escaped = dir.replaceAll(' ', '\\040');
    const mounts = `/dev/vda / ext4 rw 0 0\ntmpfs ${escaped} tmpfs rw 0 0\ntmpfs ${escaped}x tmpfs rw 0 0\n`;
    assert.equal(await mountPointOf(join(dir, 'run', 'checkpoints', 'ckpt-000000001.ckpt'), mounts), dir, 'a path not created yet');
    assert.equal(await mountPointOf(dir, mounts), dir);
    assert.equal(await mountPointOf(tmpdir(), mounts), '/');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
