// Recovery's decisions without a socket or a clock: which state the next generation starts from,
// how many replacements to wait for below --min-workers (and when to give up), which checkpoint the
// give-up message points --resume to, and the error the run ends with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensorToFloat32 } from '@gnet/protocol';
import type { LoadedCheckpoint } from '@gnet/run-store';
import { TooFewWorkersError } from './errors.js';
import { replacementsNeeded, resumeAdvice, stateAfterLoss, tooFewWorkersError } from './recovery_decisions.js';
import { snapshotToCheckpoint } from './snapshot_checkpoint.js';
import { SAMPLE_SIZES, sampleSnapshot } from './testing/sample_snapshot.js';

/** An epoch's record as the checkpoint's meta keeps it (opaque to recovery). */
const epochRecord = { epoch: 0, trainLoss: 1.5 };

function loadedAt(globalStep: number): LoadedCheckpoint {
  const meta = { position: { epoch: 1, stepInEpoch: 2, globalStep }, epochs: [epochRecord], epochSoFar: { steps: 2 } };
  return {
    state: snapshotToCheckpoint(sampleSnapshot(globalStep), SAMPLE_SIZES, meta),
    path: `/runs/r/checkpoints/ckpt-${globalStep}.ckpt`,
    globalStep,
    skipped: [],
  };
}

test('a survivor’s snapshot is the next state, at the step it trains next, with no rollback', () => {
  const sent = sampleSnapshot(4);
  const { state, rolledBackTo } = stateAfterLoss(sent, loadedAt(2));
  assert.deepEqual(state, { globalStep: 4, tensors: sent.tensors, momentum: sent.momentum });
  assert.equal(rolledBackTo, null);
});

test('without a survivor’s state the run goes back to the last checkpoint, its records included; without one, to the seed', () => {
  const back = stateAfterLoss(null, loadedAt(6));
  assert.equal(back.state.globalStep, 6);
  assert.deepEqual(
    back.state.tensors.map((t) => [t.name, [...tensorToFloat32(t)]]),
    [
      ['conv/kernel', [1, 2]],
      ['conv/bn/running_mean', [3]],
    ],
  );
  assert.deepEqual([...tensorToFloat32(back.state.momentum[0]!)], [4, 5]);
  assert.deepEqual(back.rolledBackTo, { epochs: [epochRecord], epochSoFar: { steps: 2 } });

  const seed = stateAfterLoss(null, null);
  assert.deepEqual(seed, { state: { globalStep: 0, tensors: [], momentum: [] }, rolledBackTo: { epochs: [], epochSoFar: null } });
});

test('replacements are awaited only below --min-workers, as many as are missing', () => {
  assert.equal(replacementsNeeded(3, 2), 0);
  assert.equal(replacementsNeeded(2, 2), 0);
  assert.equal(replacementsNeeded(1, 2), 1);
  assert.equal(replacementsNeeded(0, 3), 3);
});

test('the give-up message points to the checkpoint saved below the minimum, else the last one, else says none exists', () => {
  assert.equal(
    resumeAdvice({ globalStep: 12, path: '/runs/r/checkpoints/ckpt-12.ckpt' }, { path: '/runs/r/checkpoints/ckpt-8.ckpt' }),
    'a checkpoint at step 12 was saved (/runs/r/checkpoints/ckpt-12.ckpt): start workers and resume with --resume',
  );
  assert.equal(
    resumeAdvice(null, { path: '/runs/r/checkpoints/ckpt-8.ckpt' }),
    'the last checkpoint /runs/r/checkpoints/ckpt-8.ckpt stands: start workers and resume with --resume',
  );
  assert.equal(resumeAdvice(null, null), 'no checkpoint exists, so --resume has nothing to continue from: start the run again without it');
});

test('giving up ends the run with TooFewWorkersError naming the count, both flags and the advice', () => {
  const one = tooFewWorkersError(1, { minWorkers: 2, rejoinTimeoutMs: 30_000 }, 'ADVICE');
  assert.ok(one instanceof TooFewWorkersError);
  assert.equal(one.code, 'COORD_TOO_FEW_WORKERS');
  assert.equal(
    one.message,
    'Only 1 worker left, below --min-workers 2, and no replacement joined within --rejoin-timeout-ms 30000; ADVICE',
  );
  assert.match(tooFewWorkersError(0, { minWorkers: 2, rejoinTimeoutMs: 5 }, 'x').message, /^Only 0 workers left, /);
});
