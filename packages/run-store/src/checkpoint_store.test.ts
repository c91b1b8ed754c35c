// CheckpointStore on real files in a temporary folder: naming, pruning, falling back past torn or
// corrupt checkpoints, and leftovers of a crashed save.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointError, type CheckpointState } from './checkpoint.js';
import { CheckpointStore, NoGoodCheckpointError, type CheckpointWarnLog } from './checkpoint_store.js';

function stateAt(globalStep: number): CheckpointState {
  return {
    meta: { globalStep, note: 'x' },
    weightSlots: [{ name: 'w', shape: [4], offset: 0, size: 4 }],
    bufferSlots: [{ name: 'b', shape: [1], offset: 0, size: 1 }],
    weights: Float32Array.from([globalStep, 0.5, -1, Math.fround(Math.PI)]),
    buffers: Float32Array.from([globalStep / 7]),
    velocity: Float32Array.from([0.25, globalStep, 3, -4]),
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-store-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function captureLog(): CheckpointWarnLog & { lines: Array<{ fields: Record<string, unknown>; message: string }> } {
  const lines: Array<{ fields: Record<string, unknown>; message: string }> = [];
  return { lines, warn: (fields, message) => lines.push({ fields, message }) };
}

const stepsOf = async (store: CheckpointStore) => (await store.list()).map((e) => e.globalStep);

test('save then loadLatestGood round-trips bit-exactly; an empty or missing folder gives null', async () => {
  await withDir(async (dir) => {
    const store = new CheckpointStore(join(dir, 'checkpoints'));
    assert.equal(await store.loadLatestGood(), null, 'missing folder');
    assert.deepEqual(await store.list(), []);
    const saved = await store.save(stateAt(1234), 1234);
    assert.deepEqual(saved, { path: join(dir, 'checkpoints', 'ckpt-000001234.ckpt'), globalStep: 1234, removed: [] });
    const loaded = await store.loadLatestGood();
    assert.ok(loaded);
    assert.equal(loaded.path, saved.path);
    assert.equal(loaded.globalStep, 1234);
    assert.deepEqual(loaded.skipped, []);
    const expected = stateAt(1234);
    assert.deepEqual(loaded.state.meta, expected.meta);
    assert.deepEqual(loaded.state.weights, expected.weights);
    assert.deepEqual(loaded.state.buffers, expected.buffers);
    assert.deepEqual(loaded.state.velocity, expected.velocity);
    assert.deepEqual(loaded.state.weightSlots, expected.weightSlots);
    assert.deepEqual(await readdir(join(dir, 'checkpoints')), ['ckpt-000001234.ckpt']);
  });
  await withDir(async (dir) => {
    assert.equal(await new CheckpointStore(dir).loadLatestGood(), null, 'empty folder');
  });
});

test('pruning keeps exactly the newest `keep` checkpoints', async () => {
  await withDir(async (dir) => {
    const store = new CheckpointStore(dir);
    assert.equal(store.keep, 3, 'default');
    for (let step = 10; step <= 60; step += 10) await store.save(stateAt(step), step);
    assert.deepEqual(await stepsOf(store), [40, 50, 60]);
    const two = new CheckpointStore(dir, { keep: 2 });
    const saved = await two.save(stateAt(70), 70);
    assert.deepEqual(saved.removed, [store.pathFor(40), store.pathFor(50)]);
    assert.deepEqual(await stepsOf(two), [60, 70]);
    const one = new CheckpointStore(dir, { keep: 1 });
    await one.save(stateAt(80), 80);
    assert.deepEqual(await readdir(dir), ['ckpt-000000080.ckpt']);
    // Saving the same step again replaces it.
    await one.save(stateAt(81), 80);
    assert.deepEqual((await one.loadLatestGood())!.state.meta, { globalStep: 81, note: 'x' });
  });
});

test('keep and globalStep are validated with typed errors', async () => {
  for (const keep of [0, -1, 1.5, Number.NaN]) {
    assert.throws(
      () => new CheckpointStore('x', { keep }),
      (e: unknown) =>
        e instanceof CheckpointError &&
        e.code === 'CKPT_INVALID_ARGUMENT' &&
        e.message === `\`keep\` passed to \`CheckpointStore\` must be an integer >= 1, but got ${keep}`,
    );
  }
  await withDir(async (dir) => {
    const store = new CheckpointStore(dir);
    await assert.rejects(
      store.save(stateAt(1), -3),
      (e: unknown) =>
        e instanceof CheckpointError &&
        e.code === 'CKPT_INVALID_ARGUMENT' &&
        /`globalStep` .* non-negative integer, but got -3/.test(e.message),
    );
    assert.deepEqual(await readdir(dir), []);
  });
});

test('a truncated newest checkpoint is skipped with one warning and the previous one is loaded', async () => {
  await withDir(async (dir) => {
    const store = new CheckpointStore(dir);
    for (const step of [100, 200, 300]) await store.save(stateAt(step), step);
    const newest = store.pathFor(300);
    const size = (await readFile(newest)).length;
    await truncate(newest, size - 30);
    const log = captureLog();
    const loaded = await store.loadLatestGood(log);
    assert.ok(loaded);
    assert.equal(loaded.globalStep, 200);
    assert.equal(loaded.path, store.pathFor(200));
    assert.deepEqual(loaded.state.weights, stateAt(200).weights);
    assert.equal(loaded.skipped.length, 1);
    assert.equal(loaded.skipped[0]!.path, newest);
    assert.equal(loaded.skipped[0]!.code, 'CKPT_CORRUPT');
    assert.equal(loaded.skipped[0]!.reason, `${newest} is truncated: it holds ${size - 30} bytes, but its header describes ${size}`);
    assert.equal(log.lines.length, 1, 'logged once');
    assert.equal(log.lines[0]!.message, 'checkpoint skipped');
    assert.deepEqual(log.lines[0]!.fields, loaded.skipped[0]);
  });
});

test('a flipped byte in the newest checkpoint (body or header) is skipped the same way', async () => {
  await withDir(async (dir) => {
    const store = new CheckpointStore(dir);
    for (const step of [1, 2, 3]) await store.save(stateAt(step), step);
    for (const [path, at] of [
      [store.pathFor(3), -20], // the body (velocity)
      [store.pathFor(2), 40], // the header JSON
    ] as const) {
      const bytes = await readFile(path);
      bytes[at < 0 ? bytes.length + at : at]! ^= 0x04;
      await writeFile(path, bytes);
    }
    const loaded = await store.loadLatestGood();
    assert.ok(loaded);
    assert.equal(loaded.globalStep, 1);
    assert.deepEqual(loaded.state.velocity, stateAt(1).velocity);
    assert.deepEqual(
      loaded.skipped.map((s) => s.path),
      [store.pathFor(3), store.pathFor(2)],
    );
    assert.match(loaded.skipped[0]!.reason, /ckpt-000000003\.ckpt failed its SHA-256 check/);
    assert.match(loaded.skipped[1]!.reason, /ckpt-000000002\.ckpt (failed its SHA-256 check|has an unreadable header)/);
  });
});

test('when every checkpoint is bad, a typed error lists each file and why', async () => {
  await withDir(async (dir) => {
    const store = new CheckpointStore(dir);
    for (const step of [5, 6, 7]) await store.save(stateAt(step), step);
    await writeFile(store.pathFor(7), 'garbage');
    await truncate(store.pathFor(6), 0);
    const bytes = await readFile(store.pathFor(5));
    bytes[bytes.length - 1]! ^= 0xff;
    await writeFile(store.pathFor(5), bytes);
    const log = captureLog();
    await assert.rejects(store.loadLatestGood(log), (e: unknown) => {
      assert.ok(e instanceof NoGoodCheckpointError && e instanceof CheckpointError);
      assert.equal(e.code, 'CKPT_NONE_GOOD');
      assert.equal(e.dir, dir);
      assert.deepEqual(
        e.tried.map((t) => t.path),
        [store.pathFor(7), store.pathFor(6), store.pathFor(5)],
      );
      assert.match(e.message, new RegExp(`^None of the 3 checkpoints in ${dir} can be loaded; tried, newest first: `));
      assert.ok(e.message.includes(`${store.pathFor(7)} is not a checkpoint`), e.message);
      assert.ok(e.message.includes(`${store.pathFor(6)} is truncated: it holds 0 bytes`), e.message);
      assert.ok(e.message.includes(`${store.pathFor(5)} failed its SHA-256 check`), e.message);
      return true;
    });
    assert.equal(log.lines.length, 3);
  });
});

test('a temporary file left by a crashed save is ignored, then removed by the next save', async () => {
  await withDir(async (dir) => {
    const store = new CheckpointStore(dir);
    await store.save(stateAt(1), 1);
    // What writeFileDurable leaves when the process dies between writing and renaming.
    const stray = join(dir, 'ckpt-000000002.ckpt.tmp-4242-deadbeef');
    await writeFile(stray, (await readFile(store.pathFor(1))).subarray(0, 50));
    await writeFile(join(dir, 'notes.txt'), 'not ours');
    assert.deepEqual(await stepsOf(store), [1]);
    assert.equal((await store.loadLatestGood())!.globalStep, 1);
    const saved = await store.save(stateAt(2), 2);
    assert.deepEqual(saved.removed, [stray]);
    assert.deepEqual((await readdir(dir)).sort(), ['ckpt-000000001.ckpt', 'ckpt-000000002.ckpt', 'notes.txt']);
  });
});

test('global steps order numerically, not by name', async () => {
  await withDir(async (dir) => {
    const store = new CheckpointStore(dir, { keep: 3 });
    // 1e9 has ten digits: its name sorts before 999,999,999's ('ckpt-1…' < 'ckpt-9…').
    for (const step of [9, 10, 999_999_999, 1_000_000_000]) await store.save(stateAt(step), step);
    assert.deepEqual(await stepsOf(store), [10, 999_999_999, 1_000_000_000]);
    assert.equal(store.pathFor(1_000_000_000), join(dir, 'ckpt-1000000000.ckpt'));
    const loaded = await store.loadLatestGood();
    assert.equal(loaded!.globalStep, 1_000_000_000);
    assert.deepEqual(loaded!.state.weights, stateAt(1_000_000_000).weights);
  });
});

test('a save at an earlier step removes the later checkpoints of the abandoned run', async () => {
  await withDir(async (dir) => {
    const store = new CheckpointStore(dir);
    for (const step of [10, 20, 30]) await store.save(stateAt(step), step);
    // A new process resumed from step 20 (say the operator picked it) and trains on.
    const resumed = new CheckpointStore(dir);
    const saved = await resumed.save(stateAt(25), 25);
    assert.deepEqual(saved.removed, [store.pathFor(30)]);
    assert.deepEqual(await stepsOf(store), [10, 20, 25]);
  });
});

test('the next save deletes checkpoints that loadLatestGood found corrupt, so `keep` good ones remain', async () => {
  await withDir(async (dir) => {
    const store = new CheckpointStore(dir);
    for (const step of [10, 20, 30]) await store.save(stateAt(step), step);
    await truncate(store.pathFor(30), 7);
    assert.equal((await store.loadLatestGood())!.globalStep, 20);
    const saved = await store.save(stateAt(40), 40);
    assert.deepEqual(saved.removed, [store.pathFor(30)]);
    assert.deepEqual(await stepsOf(store), [10, 20, 40]);
  });
});

test('concurrent saves through one store are serialised and leave no temporary files', async () => {
  await withDir(async (dir) => {
    const store = new CheckpointStore(dir, { keep: 2 });
    await Promise.all([1, 2, 3, 4].map((step) => store.save(stateAt(step), step)));
    assert.deepEqual(await readdir(dir), ['ckpt-000000003.ckpt', 'ckpt-000000004.ckpt']);
  });
});
