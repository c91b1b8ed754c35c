// One abort signal per round: what aborts it, and what a stop does to later rounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RoundSignals } from './round_signal.js';

test('an abort reaches only the round in progress, with its reason', () => {
  const rounds = new RoundSignals();
  rounds.abortRunning('before any round');
  const first = rounds.begin();
  assert.equal(first.aborted, false);
  rounds.abortRunning('the coordinator aborted round 4: a peer died');
  assert.equal(first.reason, 'the coordinator aborted round 4: a peer died');
  rounds.end();
  rounds.abortRunning('after the round');
  assert.equal(rounds.begin().aborted, false);
});

test('a stop aborts the round in progress and every later one, keeping the first reason', () => {
  const rounds = new RoundSignals();
  const running = rounds.begin();
  rounds.stop('stopped by SIGTERM');
  rounds.stop('the coordinator closed the connection');
  assert.equal(running.reason, 'stopped by SIGTERM');
  rounds.end();
  const later = rounds.begin();
  assert.equal(later.aborted, true);
  assert.equal(later.reason, 'stopped by SIGTERM');
});
