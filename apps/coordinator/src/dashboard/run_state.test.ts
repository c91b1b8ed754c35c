import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_TIMELINE, RunStateView } from './run_state.js';
import { sampleRun, sampleRunEnd, stepEvent } from '../testing/sample_run.js';

test('the snapshot follows the run: latest figures, the current group, per-worker split, timeline', () => {
  const view = new RunStateView();
  for (const e of sampleRun()) view.apply(e);
  const s = view.snapshot;
  assert.equal(s.status, 'training');
  assert.deepEqual(
    [s.runId, s.stepsPerEpoch, s.totalSteps, s.globalStep, s.epoch, s.stepsDone, s.skippedSteps],
    ['run-1', 4, 8, 5, 1, 6, 1],
  );
  assert.deepEqual([s.generation, s.worldSize, s.checkpoints, s.lastCheckpoint?.globalStep], [1, 1, 1, 4]);
  assert.deepEqual(
    s.workers.map((worker) => [worker.workerId, worker.rank, worker.backend, worker.active]),
    [
      ['w0', 0, 'wasm', true],
      ['w1', 1, 'wasm', false],
    ],
  );
  // compute + reduce + wait = the round's wall time (1 s in the sample), per worker.
  const w1 = s.workers[1]!.last!;
  assert.deepEqual([w1.globalStep, w1.computeMs, w1.reduceMs, w1.waitMs, w1.numTensors], [4, 690, 310, 0, 401]);
  assert.equal(s.workers[0]!.last!.imagesPerSecond, 12 / 0.8);
  assert.deepEqual(
    s.timeline.map((t) => t.kind),
    ['started', 'joined', 'joined', 'generation', 'checkpoint', 'lost', 'generation'],
  );
  assert.match(s.timeline[5]!.text, /w1 \(rank 1\) lost: socket closed/);
  assert.equal(s.epochRecords.length, 1);
  assert.deepEqual(s.evaluations, [{ split: 'val', epoch: 0, loss: 2.2, accuracy: 0.3, count: 40 }]);

  for (const e of sampleRunEnd()) view.apply(e);
  assert.equal(view.snapshot.status, 'finished');
  assert.equal(view.snapshot.test?.accuracy, 0.45);
  assert.deepEqual(
    view.snapshot.epochRecords.map((r) => r.epoch),
    [1, 2],
  );
  view.apply({ kind: 'failed', atMs: 1, code: 'COORD_NO_PROGRESS', message: 'x' });
  assert.deepEqual(view.snapshot.failure, { code: 'COORD_NO_PROGRESS', message: 'x' });
});

test('the timeline is bounded; an epoch recorded again after a rollback replaces the old record', () => {
  const view = new RunStateView();
  for (const e of sampleRun()) view.apply(e);
  const record = sampleRun().find((e) => e.kind === 'epoch')!;
  view.apply({ ...record, atMs: 99 });
  assert.equal(view.snapshot.epochRecords.length, 1);
  for (let i = 0; i < MAX_TIMELINE + 10; i += 1) view.apply({ kind: 'checkpoint', atMs: i, globalStep: i, path: 'p' });
  assert.equal(view.snapshot.timeline.length, MAX_TIMELINE);
  assert.equal(view.snapshot.timeline.at(-1)!.text, `checkpoint at step ${MAX_TIMELINE + 9}`);
  // A step from a worker the view never saw in a group is counted but attributes nothing.
  view.apply({ ...stepEvent(9), workers: [] });
  assert.equal(view.snapshot.globalStep, 9);
});
