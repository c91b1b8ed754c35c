// The worker's control machine, without a process or a socket: every message in every stage,
// out-of-order and stale rounds, aborts of rounds not yet started, leave while a round runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message, MessageOf, Welcome } from '@gnet/protocol';
import {
  dispatch,
  initialWorkerState,
  MAX_ABORTED_ROUNDS,
  onArrival,
  ringOpened,
  roundBegan,
  roundEnded,
  shutdown,
  type WorkerAction,
  type WorkerState,
} from './worker_machine.js';
import { sampleWelcome, TWO_UNDIALED_PEERS } from './testing/sample_welcome.js';

function welcome(generation: number): Welcome {
  return sampleWelcome({
    worldSize: 2,
    runId: 'run-test',
    generation,
    hyper: { globalBatch: 8, microBatch: 4, weightDecay: 5e-4, auxWeight: 0.3, seed: 1 },
    model: { width: 0.125, auxHeads: false, batchNorm: true, dropout: 0, auxDropout: 0 },
    shard: { datasetSize: 16, trainIndicesDigest: '0'.repeat(64), seed: 1 },
    allReduce: { algorithm: 'ring', chunkBytes: 1024, wireDtype: 'float32' },
    peers: TWO_UNDIALED_PEERS,
    serverProof: new Uint8Array(32),
  });
}

const initialWeights = (generation: number): MessageOf<'initialWeights'> => ({
  type: 'initialWeights',
  generation,
  round: 10,
  epoch: 0,
  step: 0,
  globalStep: 0,
  tensors: [],
  momentum: [],
});
const roundStart = (round: number): MessageOf<'roundStart'> => ({
  type: 'roundStart',
  round,
  epoch: 0,
  step: round,
  globalStep: round,
  lr: 0.1,
});
const roundAbort = (round: number): MessageOf<'roundAbort'> => ({ type: 'roundAbort', round, reason: 'a peer died' });
const evalRequest: MessageOf<'evalRequest'> = {
  type: 'evalRequest',
  evalId: 1,
  epoch: 0,
  split: 'val',
  start: 0,
  end: 10,
  batchSize: 10,
  averageRound: 12,
};
const checkpointRequest: MessageOf<'checkpointRequest'> = {
  type: 'checkpointRequest',
  requestId: 1,
  epoch: 0,
  step: 1,
  globalStep: 1,
  includeMomentum: true,
};
const leave = (reason: MessageOf<'leave'>['reason']): MessageOf<'leave'> => ({ type: 'leave', reason, message: 'bye' });
const coordinatorError: MessageOf<'error'> = { type: 'error', code: 'PROTO_BAD_FRAME', message: 'garbled' };
const ready: MessageOf<'ready'> = { type: 'ready', generation: 0 };

/** A generation whose ring is open (rounds are trained). */
function training(generation = 0): WorkerState {
  const formed = dispatch(initialWorkerState(welcome(generation)), initialWeights(generation));
  assert.equal(formed.action.kind, 'formGeneration');
  assert.equal(formed.state.stage, 'groupless');
  return ringOpened(formed.state);
}

function failCode(action: WorkerAction): string {
  assert.equal(action.kind, 'fail');
  return action.kind === 'fail' ? action.error.code : '';
}

test('awaiting initialWeights: it forms the generation; queued rounds are skipped; anything else is a protocol error', () => {
  const state = initialWorkerState(welcome(3));
  assert.equal(state.stage, 'awaitingWeights');
  const formed = dispatch(state, initialWeights(3));
  assert.deepEqual(formed.action, { kind: 'formGeneration', initial: initialWeights(3) });
  assert.equal(formed.state.stage, 'groupless');
  // A round aborted just before the welcome may still be queued.
  assert.deepEqual(dispatch(state, roundStart(5)), { state, action: { kind: 'skip' } });
  assert.deepEqual(dispatch(state, roundAbort(5)), { state, action: { kind: 'skip' } });
  const stale = dispatch(state, initialWeights(2)).action;
  assert.equal(failCode(stale), 'WORKER_PROTOCOL');
  assert.match(stale.kind === 'fail' ? stale.error.message : '', /must be the welcome's 3, but got 2/);
  for (const message of [evalRequest, checkpointRequest, welcome(4), leave('finished'), coordinatorError, ready] as Message[]) {
    const action = dispatch(state, message).action;
    assert.equal(failCode(action), 'WORKER_PROTOCOL', message.type);
    assert.match(action.kind === 'fail' ? action.error.message : '', new RegExp(`expected 'initialWeights'.*got '${message.type}'`));
  }
});

test('a generation without a ring skips rounds and evaluations but answers snapshots', () => {
  const groupless = dispatch(initialWorkerState(welcome(0)), initialWeights(0)).state;
  assert.equal(dispatch(groupless, roundStart(11)).action.kind, 'skip');
  assert.equal(dispatch(groupless, evalRequest).action.kind, 'skip');
  assert.deepEqual(dispatch(groupless, checkpointRequest).action, { kind: 'snapshot', checkpointRequest });
  assert.equal(dispatch(groupless, welcome(1)).action.kind, 'newGeneration');
});

test('training: each message maps to its action', () => {
  const state = training();
  assert.deepEqual(dispatch(state, roundStart(11)).action, { kind: 'trainStep', roundStart: roundStart(11) });
  assert.deepEqual(dispatch(state, evalRequest).action, { kind: 'evaluate', evalRequest });
  assert.deepEqual(dispatch(state, checkpointRequest).action, { kind: 'snapshot', checkpointRequest });
  assert.equal(dispatch(state, roundAbort(11)).action.kind, 'skip');
  assert.deepEqual(dispatch(state, leave('finished')).action, { kind: 'finish', message: 'bye' });
  assert.equal(failCode(dispatch(state, leave('evicted')).action), 'WORKER_EVICTED');
  assert.equal(failCode(dispatch(state, leave('shutdown')).action), 'WORKER_RUN_STOPPED');
  assert.equal(failCode(dispatch(state, coordinatorError).action), 'WORKER_PROTOCOL');
  const unexpected = dispatch(state, initialWeights(0)).action;
  assert.equal(failCode(unexpected), 'WORKER_PROTOCOL');
  assert.match(unexpected.kind === 'fail' ? unexpected.error.message : '', /unexpected 'initialWeights' .* between rounds/);
  assert.equal(failCode(dispatch(state, ready).action), 'WORKER_PROTOCOL');
});

test('a welcome for a new generation waits for its initialWeights; the old generation is over', () => {
  const next = dispatch(training(0), welcome(1));
  assert.deepEqual(next.action, { kind: 'newGeneration', welcome: welcome(1) });
  assert.equal(next.state.stage, 'awaitingWeights');
  assert.equal(next.state.generation, 1);
  // A round of the old generation still queued is dropped; the old generation's initialWeights is refused.
  assert.equal(dispatch(next.state, roundStart(11)).action.kind, 'skip');
  assert.equal(failCode(dispatch(next.state, initialWeights(0)).action), 'WORKER_PROTOCOL');
  assert.equal(dispatch(next.state, initialWeights(1)).action.kind, 'formGeneration');
});

test('roundAbort for a round not yet started: the roundStart that follows is dropped, later rounds run', () => {
  const arrived = onArrival(training(), roundAbort(11));
  assert.deepEqual(arrived.action, {
    kind: 'abortRound',
    round: 11,
    reason: 'the coordinator aborted round 11: a peer died',
    abortRunning: false,
  });
  assert.deepEqual(arrived.state.abortedRounds, [11]);
  assert.equal(dispatch(arrived.state, roundStart(11)).action.kind, 'skip');
  assert.equal(dispatch(arrived.state, roundStart(12)).action.kind, 'trainStep');
});

test('roundAbort while a round runs aborts it, unless the abort is stale (an older round)', () => {
  const running = roundBegan(training(), 11);
  const current = onArrival(running, roundAbort(11)).action;
  assert.equal(current.kind === 'abortRound' && current.abortRunning, true);
  // A round the coordinator has moved past while we are still in an older one: ours is abandoned too.
  const newer = onArrival(running, roundAbort(12)).action;
  assert.equal(newer.kind === 'abortRound' && newer.abortRunning, true);
  const stale = onArrival(running, roundAbort(10)).action;
  assert.equal(stale.kind === 'abortRound' && stale.abortRunning, false);
  assert.equal(roundEnded(running).runningRound, null);
  assert.equal(onArrival(roundEnded(running), roundAbort(11)).action.kind === 'abortRound', true);
});

test('aborted rounds are remembered up to a bound, newest kept', () => {
  let state = training();
  for (let round = 0; round < MAX_ABORTED_ROUNDS + 10; round += 1) state = onArrival(state, roundAbort(round)).state;
  assert.equal(state.abortedRounds.length, MAX_ABORTED_ROUNDS);
  assert.equal(state.abortedRounds[0], 10);
  assert.equal(dispatch(state, roundStart(MAX_ABORTED_ROUNDS + 9)).action.kind, 'skip');
  assert.equal(dispatch(state, roundStart(MAX_ABORTED_ROUNDS + 10)).action.kind, 'trainStep');
});

test('on arrival, leave (not finished) and error stop at once, even mid-round; other messages wait their turn', () => {
  const running = roundBegan(training(), 11);
  const code = (message: Message): string => {
    const { action } = onArrival(running, message);
    return action.kind === 'stop' ? action.error.code : action.kind;
  };
  assert.equal(code(leave('evicted')), 'WORKER_EVICTED');
  assert.equal(code(leave('shutdown')), 'WORKER_RUN_STOPPED');
  assert.equal(code(coordinatorError), 'WORKER_ABORTED');
  assert.equal(code(leave('finished')), 'none');
  for (const message of [roundStart(12), evalRequest, checkpointRequest, welcome(1), initialWeights(1)] as Message[])
    assert.equal(code(message), 'none');
  const evicted = onArrival(running, leave('evicted')).action;
  assert.match(evicted.kind === 'stop' ? evicted.error.message : '', /evicted this worker: bye/);
});

test('shutdown: leave once; then no rounds, evaluations or generations, but snapshots; any stop is WORKER_STOPPED', () => {
  const running = roundBegan(training(), 11);
  const left = shutdown(running, 'stopped by SIGTERM');
  assert.deepEqual(left.action, {
    kind: 'leave',
    leave: { type: 'leave', reason: 'shutdown', message: 'stopped by SIGTERM' },
    reason: 'stopped by SIGTERM',
  });
  assert.equal(left.state.leaving, true);
  assert.deepEqual(shutdown(left.state, 'again').action, { kind: 'none' });
  const state = roundEnded(left.state);
  assert.equal(dispatch(state, roundStart(12)).action.kind, 'skip');
  assert.equal(dispatch(state, evalRequest).action.kind, 'skip');
  assert.equal(dispatch(state, checkpointRequest).action.kind, 'snapshot');
  assert.equal(failCode(dispatch(state, welcome(1)).action), 'WORKER_STOPPED');
  assert.equal(failCode(dispatch(state, leave('finished')).action), 'WORKER_STOPPED');
  const arrival = onArrival(state, leave('evicted')).action;
  assert.equal(arrival.kind === 'stop' ? arrival.error.code : '', 'WORKER_STOPPED');
  const error = onArrival(state, coordinatorError).action;
  assert.equal(error.kind === 'stop' ? error.error.code : '', 'WORKER_STOPPED');
});

test('a shutdown before the first initialWeights is remembered for the connection', () => {
  const state = initialWorkerState(welcome(0), true);
  assert.equal(state.leaving, true);
  assert.equal(shutdown(state, 'again').action.kind, 'none');
});
