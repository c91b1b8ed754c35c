// The run's checkpoint writer on a real run folder: the meta places the state by the step it
// trains next and carries the machine's records and the generation's plan; the file loads back;
// the newest --keep-checkpoints stay; a `checkpoint` event names the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pino } from 'pino';
import { RunFolder, type EpochMeterState } from '@gnet/run-store';
import { checkpointMeta, checkpointWriter, type CheckpointSource } from './checkpoint_writer.js';
import { RunEvents } from './run_events.js';
import { sampleSnapshot } from './testing/sample_snapshot.js';

const plan = {
  hyper: { globalBatch: 8, seed: 3 },
  model: { width: 0.25 },
  worldSize: 2,
  paramElements: 2,
  bufferElements: 1,
} as unknown as CheckpointSource['plan'];
const epochSoFar = { steps: 1 } as unknown as EpochMeterState;
const records = { epochs: [], epochSoFar };

test('the meta places a state by the step it trains next: epoch and step within it', () => {
  const meta = checkpointMeta('run-1', 10, 4, records, plan);
  assert.deepEqual(meta, {
    runId: 'run-1',
    position: { epoch: 2, stepInEpoch: 2, globalStep: 10 },
    epochs: [],
    epochSoFar,
    hyper: plan.hyper,
    model: plan.model,
    worldSize: 2,
  });
  assert.deepEqual(checkpointMeta('run-1', 8, 4, records, plan).position, { epoch: 2, stepInEpoch: 0, globalStep: 8 });
});

test('the writer saves a loadable file named by the step, keeps the newest ones and emits a checkpoint event', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'checkpoint-writer-'));
  try {
    const store = new RunFolder(dir).checkpoints(2);
    const events = new RunEvents();
    const write = checkpointWriter({
      runId: 'run-1',
      stepsPerEpoch: 4,
      store,
      records: () => records,
      log: pino({ level: 'silent' }),
      events,
      now: () => 1234,
    });
    const paths: string[] = [];
    for (const step of [3, 5, 9]) paths.push(await write(sampleSnapshot(step, { momentum: false }), { plan }, step));
    assert.deepEqual(paths, [store.pathFor(3), store.pathFor(5), store.pathFor(9)]);
    // --keep-checkpoints 2: the oldest went.
    assert.deepEqual((await readdir(dirname(store.pathFor(9)))).sort(), [basename(store.pathFor(5)), basename(store.pathFor(9))]);
    const loaded = await store.loadLatestGood();
    assert.equal(loaded?.path, store.pathFor(9));
    assert.deepEqual((loaded?.state.meta as { position: unknown }).position, { epoch: 2, stepInEpoch: 1, globalStep: 9 });
    assert.deepEqual([...loaded!.state.weights], [1, 2]);
    assert.deepEqual(
      events.history.filter((e) => e.kind === 'checkpoint'),
      [3, 5, 9].map((globalStep) => ({ kind: 'checkpoint', atMs: 1234, globalStep, path: store.pathFor(globalStep) })),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
