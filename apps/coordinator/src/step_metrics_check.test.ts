// Tests of checkStepMetrics: a round's metrics checked against each rank's share of the global
// batch, the round's epoch and step, and the round's length; refusals name the rank and carry
// PROTO_BAD_REPLY (close 1002).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError, type Metrics } from '@gnet/protocol';
import { checkStepMetrics, type StepExpectation } from './step_metrics_check.js';

// Three ranks share a global batch of 100: slices [0, 33), [33, 66), [66, 100).
const EXPECT: StepExpectation = { round: 41, epoch: 2, step: 5, worldSize: 3, globalBatch: 100, roundMs: 1000 };
const COUNTS = [33, 33, 34];

function honest(rank: number): Metrics {
  return {
    type: 'metrics',
    round: 41,
    epoch: 2,
    step: 5,
    loss: 1.5,
    correct: 10,
    count: COUNTS[rank]!,
    timings: { dataMs: 10, computeMs: 700, reduceMs: 200, applyMs: 5, stepMs: 920 },
    skipped: false,
    memory: { numTensors: 400, rssBytes: 7e8, heapUsedBytes: 5e7 },
  };
}
const round = (): Metrics[] => [0, 1, 2].map(honest);

function assertRefused(refusals: ReturnType<typeof checkStepMetrics>, rank: number, message: string): void {
  assert.equal(refusals.length, 1);
  const [refusal] = refusals;
  assert.equal(refusal!.rank, rank);
  assert.ok(refusal!.error instanceof ProtocolError);
  assert.equal(refusal!.error.code, 'PROTO_BAD_REPLY');
  assert.equal(refusal!.error.closeCode, 1002);
  assert.equal(refusal!.error.message, message);
}

test('honest metrics pass, including a step as long as the round within the clock slack', () => {
  assert.deepEqual(checkStepMetrics(round(), EXPECT), []);
  const slow = round();
  slow[2] = { ...slow[2]!, timings: { ...slow[2]!.timings, stepMs: 1015 } }; // 1000 ms + 1% + 10 ms = 1020
  assert.deepEqual(checkStepMetrics(slow, EXPECT), []);
});

test('the count of issue 10 (2^53 - 1 per step, an epoch of 1.4e17 images) is refused, naming the rank and its share', () => {
  const metrics = round();
  metrics[1] = { ...metrics[1]!, count: Number.MAX_SAFE_INTEGER };
  assertRefused(
    checkStepMetrics(metrics, EXPECT),
    1,
    'metrics from rank 1 must count 33 samples (its slice [33, 66) of the global batch of 100 over 3 ranks), but count 9007199254740991',
  );
});

test('a count one off its share is refused too: the coordinator knows what it asked for', () => {
  const metrics = round();
  metrics[2] = { ...metrics[2]!, count: 33 };
  assertRefused(
    checkStepMetrics(metrics, EXPECT),
    2,
    'metrics from rank 2 must count 34 samples (its slice [66, 100) of the global batch of 100 over 3 ranks), but count 33',
  );
});

test('metrics for another epoch or step of the round are refused', () => {
  const metrics = round();
  metrics[0] = { ...metrics[0]!, step: 6 };
  assertRefused(
    checkStepMetrics(metrics, EXPECT),
    0,
    'metrics from rank 0 must be for round 41 (epoch 2, step 5), but are for round 41 (epoch 2, step 6)',
  );
});

test('a step timed longer than the whole round is refused', () => {
  const metrics = round();
  metrics[1] = { ...metrics[1]!, timings: { ...metrics[1]!.timings, stepMs: 3.6e6 } };
  assertRefused(
    checkStepMetrics(metrics, EXPECT),
    1,
    "metrics from rank 1 must time the step within the round (1000 ms on the coordinator's clock), but say stepMs 3600000",
  );
});

test('every misbehaving rank is named, in rank order', () => {
  const metrics = round();
  metrics[0] = { ...metrics[0]!, count: 1 };
  metrics[2] = { ...metrics[2]!, count: 1 };
  assert.deepEqual(
    checkStepMetrics(metrics, EXPECT).map((r) => r.rank),
    [0, 2],
  );
});

test('a list that is not one entry per rank is a bug in the caller', () => {
  assert.throws(() => checkStepMetrics(round().slice(0, 2), EXPECT), {
    name: 'RangeError',
    message: '`metrics` passed to `checkStepMetrics` must hold one entry per rank (3), but holds 2',
  });
});
