// The stop path's decisions without a group: whether a failure ends as a stop with a checkpoint,
// which checkpoint the InterruptedError names, what the `failed` event says and what the group
// still formed is told; and the newest checkpoint read from a real run folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunFolder } from '@gnet/run-store';
import { InterruptedError, TooFewWorkersError, WorkerLostError } from './errors.js';
import { StopRequestedError } from './graceful_stop.js';
import { snapshotToCheckpoint } from './snapshot_checkpoint.js';
import { endsAsStop, failure, farewell, interruptedError, newestCheckpointIn } from './stop_checkpoint.js';
import { SAMPLE_SIZES, sampleSnapshot } from './testing/sample_snapshot.js';

const saved = { globalStep: 40, path: '/runs/r/checkpoints/ckpt-40.ckpt' };

test('the InterruptedError names the checkpoint just saved, else the newest on disk with why, else says nothing can be resumed', () => {
  const fresh = interruptedError('SIGTERM', 'saved', saved, '');
  assert.ok(fresh instanceof InterruptedError);
  assert.equal(fresh.code, 'COORD_INTERRUPTED');
  assert.equal(fresh.signal, 'SIGTERM');
  assert.deepEqual(fresh.checkpoint, saved);
  assert.equal(fresh.message, 'Interrupted by SIGTERM: a checkpoint at step 40 was saved (/runs/r/checkpoints/ckpt-40.ckpt)');

  const older = interruptedError('SIGINT', 'newest', saved, 'rank 0 did not answer');
  assert.deepEqual(older.checkpoint, saved);
  assert.equal(
    older.message,
    'Interrupted by SIGINT: the state could not be saved now (rank 0 did not answer); the newest checkpoint is step 40 (/runs/r/checkpoints/ckpt-40.ckpt)',
  );

  const none = interruptedError('SIGINT', 'newest', null, 'no group was training');
  assert.equal(none.checkpoint, null);
  assert.equal(
    none.message,
    'Interrupted by SIGINT before any checkpoint existed (no group was training): there is nothing to resume; start the run again',
  );
});

test('a failure ends as a stop only after a stop request, and only when it is the stop or a group failure', () => {
  const lost = new WorkerLostError(1, 'w1', 'round 7 (epoch 0, step 7)', 'socket closed');
  const stopNoticed = new StopRequestedError('SIGTERM');
  assert.equal(endsAsStop(null, stopNoticed), false);
  assert.equal(endsAsStop(null, lost), false);
  assert.equal(endsAsStop('SIGTERM', stopNoticed), true);
  assert.equal(endsAsStop('SIGINT', lost), true);
  // Another failure (a bug, too few workers) keeps its own error even during a stop.
  assert.equal(endsAsStop('SIGTERM', new TooFewWorkersError('Only 1 worker left')), false);
  assert.equal(endsAsStop('SIGTERM', new TypeError('bug')), false);
});

test('the failed event carries the error’s code (UNKNOWN without one) and message', () => {
  assert.deepEqual(failure(new TooFewWorkersError('Only 1 worker left')), { code: 'COORD_TOO_FEW_WORKERS', message: 'Only 1 worker left' });
  assert.deepEqual(failure(new TypeError('bug')), { code: 'UNKNOWN', message: 'bug' });
  assert.deepEqual(failure('a string'), { code: 'UNKNOWN', message: 'a string' });
});

test('the group is told roundAbort for a round in flight, then leave (shutdown), reasons cut to the protocol’s limits', () => {
  const long = 'x'.repeat(5000);
  const inFlight = farewell(long, 17);
  assert.deepEqual(inFlight.roundAbort, { type: 'roundAbort', round: 17, reason: 'x'.repeat(1024) });
  assert.deepEqual(inFlight.leave, { type: 'leave', reason: 'shutdown', message: 'x'.repeat(4096) });
  assert.deepEqual(farewell('stopped', null), { roundAbort: null, leave: { type: 'leave', reason: 'shutdown', message: 'stopped' } });
});

test('the newest good checkpoint of a real run folder is named by the step it trains next; none without a store or a file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stop-checkpoint-'));
  try {
    assert.equal(await newestCheckpointIn(null), null);
    const store = new RunFolder(dir).checkpoints(2);
    assert.equal(await newestCheckpointIn(store), null);
    const snapshot = sampleSnapshot(6);
    for (const globalStep of [3, 6]) {
      const meta = { position: { epoch: 0, stepInEpoch: globalStep, globalStep } };
      await store.save(snapshotToCheckpoint(snapshot, SAMPLE_SIZES, meta), globalStep);
    }
    assert.deepEqual(await newestCheckpointIn(store), { globalStep: 6, path: store.pathFor(6) });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
