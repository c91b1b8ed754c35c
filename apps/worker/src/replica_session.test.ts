// ReplicaSession over the in-memory transport: two ranks of a tiny model, no process, no socket.
// A step whose all-reduce succeeds, one aborted mid-accumulation or mid-all-reduce, a failed
// all-reduce naming the lost peer, a NaN-skipped step, the weights check, evaluation with the
// BatchNorm average, and snapshots; every call returns its reply instead of sending it.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { pino } from 'pino';
import { createBucketAllReduce, GradientReducer, MemoryHub, planBuckets } from '@gnet/collective';
import type { AllReduceConfig, EvalSplit, MessageOf } from '@gnet/protocol';
import { Replica, selectBackend } from '@gnet/training';
import { tinyModel } from '@gnet/training/testing';
import type { ImageBatch } from './rank_data.js';
import { ReplicaSession, type RoundResult, type SessionData } from './replica_session.js';
import { WorkerRunError } from './worker_run_error.js';

before(async () => {
  await selectBackend({ requested: 'cpu', log: { info: () => undefined } });
});

const GLOBAL_BATCH = 8;
const hyper = { seed: 11, microBatch: 2, labelSmoothing: 0.1, auxWeight: 0, globalBatch: GLOBAL_BATCH };
const exactRing: AllReduceConfig = { algorithm: 'ring', chunkBytes: 256, wireDtype: 'float32' };

/** Deterministic images: rank r of W takes its slice of the step's global batch, like RankData. */
const syntheticData: SessionData = {
  maxBatch: GLOBAL_BATCH,
  fillBatch(epoch: number, step: number, rank: number, worldSize: number, batch: ImageBatch, indices: Int32Array): Int32Array {
    const per = GLOBAL_BATCH / worldSize;
    for (let i = 0; i < per; i += 1) {
      const sample = (epoch * 997 + step * GLOBAL_BATCH + rank * per + i) % 50;
      indices[i] = sample;
      batch.labels[i] = sample % 10;
      for (let j = 0; j < 3072; j += 1) batch.images[i * 3072 + j] = Math.sin(sample * 0.7 + j * 0.013) + (sample % 10) * 0.1;
    }
    batch.count = per;
    return indices.subarray(0, per);
  },
  evalImages(_split: EvalSplit, start: number, end: number): ImageBatch {
    const count = end - start;
    const labels = Int32Array.from({ length: count }, (_, i) => (start + i) % 10);
    const images = Float32Array.from({ length: count * 3072 }, (_, j) => Math.cos((start + Math.floor(j / 3072)) * 0.3 + j * 0.01));
    return { images, labels, count };
  },
};

interface Rank {
  session: ReplicaSession;
  replica: Replica;
}

/** `worldSize` ranks over one MemoryHub, every replica from `seed` (or `seeds[rank]`). */
function group(worldSize: number, options: { seeds?: number[]; nanAtGlobalStep?: number } = {}): { hub: MemoryHub; ranks: Rank[] } {
  const hub = new MemoryHub(worldSize);
  const ranks = Array.from({ length: worldSize }, (_, rank) => {
    const replica = new Replica(tinyModel(options.seeds?.[rank] ?? 3), { momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
    const session = new ReplicaSession({
      replica,
      data: syntheticData,
      hyper,
      log: pino({ level: 'silent' }),
      trace: { weights: false, samples: false, dumpDir: '' },
      nanAtGlobalStep: rank === 0 ? (options.nanAtGlobalStep ?? -1) : -1,
    });
    const algorithm = createBucketAllReduce({ config: exactRing, transport: hub.endpoint(rank), rank, worldSize, timeoutMs: 5000 });
    const buckets = planBuckets(
      replica.layout.slots.map((slot) => slot.size),
      512,
    );
    session.setGroup(
      {
        generation: 0,
        rank,
        worldSize,
        reducer: new GradientReducer({ algorithm, buckets }),
        allReduceVector: (values, round, signal) =>
          algorithm.reduceBucket(values, { bucket: 0, offset: 0, length: values.length }, { round, signal }),
      },
      0,
    );
    return { session, replica };
  });
  return { hub, ranks };
}

const roundStart = (globalStep: number): MessageOf<'roundStart'> => ({
  type: 'roundStart',
  round: globalStep + 1,
  epoch: 0,
  step: globalStep,
  globalStep,
  lr: 0.05,
});
const live = (): AbortSignal => new AbortController().signal;

/** The reply of a round that must have succeeded. */
function replyOf<Reply>(result: RoundResult<Reply>): Reply {
  assert.equal(result.outcome, 'done', `expected a done round, got ${JSON.stringify(result.reply)}`);
  if (result.outcome !== 'done') throw new Error('unreachable');
  return result.reply;
}

test('a step whose all-reduce succeeds returns metrics and leaves bit-identical replicas; tensors stay flat', async () => {
  const { ranks } = group(2);
  const before = Float32Array.from(ranks[0]!.replica.weights);
  const results = await Promise.all(ranks.map(({ session }) => session.trainStep(roundStart(0), live())));
  for (const result of results) {
    const metrics = replyOf(result);
    assert.equal(metrics.type, 'metrics');
    assert.equal(metrics.round, 1);
    assert.equal(metrics.count, GLOBAL_BATCH / 2);
    assert.equal(metrics.skipped, false);
    assert.ok(Number.isFinite(metrics.loss));
  }
  const [first, second] = ranks;
  assert.deepEqual(first!.replica.weights, second!.replica.weights);
  assert.notDeepEqual(first!.replica.weights, before);
  assert.equal(first!.session.steps, 1);
  assert.equal(first!.session.nextGlobalStep, 1);
  // A second step allocates no tensor that outlives it.
  const tensors = tf.memory().numTensors;
  await Promise.all(ranks.map(({ session }) => session.trainStep(roundStart(1), live())));
  assert.equal(tf.memory().numTensors, tensors);
});

test('a step aborted mid-accumulation is dropped before its all-reduce: no reply, state unchanged', async () => {
  const { ranks } = group(2);
  const { session, replica } = ranks[0]!;
  const before = Float32Array.from(replica.weights);
  const round = new AbortController();
  const step = session.trainStep(roundStart(0), round.signal);
  // The step yields between micro-batches; the abort lands while it accumulates.
  setImmediate(() => round.abort('the coordinator aborted round 1: test'));
  assert.deepEqual(await step, { outcome: 'aborted', reply: null });
  assert.deepEqual(replica.weights, before);
  assert.equal(session.steps, 0);
  // The next round runs normally (rank 1 never started round 1, so both go on together).
  const results = await Promise.all(ranks.map((rank) => rank.session.trainStep(roundStart(1), live())));
  assert.deepEqual(
    results.map((result) => result.outcome),
    ['done', 'done'],
  );
});

test('a step aborted while its all-reduce waits for a peer ends at once, with no roundFailed', async () => {
  const { ranks } = group(2);
  const { session, replica } = ranks[0]!;
  const before = Float32Array.from(replica.weights);
  const round = new AbortController();
  // Rank 1 never joins round 1: rank 0's all-reduce waits until the abort.
  const step = session.trainStep(roundStart(0), round.signal);
  setTimeout(() => round.abort('the coordinator aborted round 1: test'), 50);
  const started = performance.now();
  assert.deepEqual(await step, { outcome: 'aborted', reply: null });
  assert.ok(performance.now() - started < 2000, 'the abort, not the 5 s collective timeout, ended the wait');
  assert.deepEqual(replica.weights, before);
});

test('an already aborted round is not computed', async () => {
  const { ranks } = group(2);
  const round = new AbortController();
  round.abort('leaving');
  const tensors = tf.memory().numTensors;
  assert.deepEqual(await ranks[0]!.session.trainStep(roundStart(0), round.signal), { outcome: 'aborted', reply: null });
  assert.equal(tf.memory().numTensors, tensors);
  assert.equal(ranks[0]!.session.steps, 0);
});

test('a failed all-reduce returns roundFailed naming the lost peer and leaves the weights as they were', async () => {
  const { hub, ranks } = group(2);
  const { session, replica } = ranks[0]!;
  const before = Float32Array.from(replica.weights);
  hub.kill(1);
  const result = await session.trainStep(roundStart(0), live());
  assert.equal(result.outcome, 'failed');
  const failed = result.reply!;
  assert.equal(failed.type, 'roundFailed');
  assert.equal(failed.round, 1);
  assert.equal(failed.code, 'COLLECTIVE_PEER_LOST');
  assert.equal(failed.peerRank, 1);
  assert.deepEqual(replica.weights, before);
  assert.equal(session.steps, 0);
});

test('a non-finite gradient on one rank is skipped on every rank alike, and reported in metrics', async () => {
  const { ranks } = group(2, { nanAtGlobalStep: 0 });
  const before = Float32Array.from(ranks[0]!.replica.weights);
  const results = await Promise.all(ranks.map(({ session }) => session.trainStep(roundStart(0), live())));
  for (const [rank, result] of results.entries()) {
    assert.equal(replyOf(result).skipped, true, `rank ${rank}`);
    assert.deepEqual(ranks[rank]!.replica.weights, before);
    assert.equal(ranks[rank]!.session.skippedSteps, 1);
    // A skipped step is still a step taken: the state trains the next global step.
    assert.equal(ranks[rank]!.session.nextGlobalStep, 1);
  }
  assert.ok(Number.isNaN(replyOf(results[0]!).loss));
  assert.ok(Number.isFinite(replyOf(results[1]!).loss));
});

test('the weights check agrees on equal replicas and throws WORKER_WEIGHTS_DIFFER on different ones', async () => {
  const same = group(2);
  const digests = await Promise.all(same.ranks.map(({ session }) => session.checkInitialWeights(0, live())));
  assert.equal(digests[0], digests[1]);
  assert.match(digests[0]!, /^[0-9a-f]{64}$/);
  const different = group(2, { seeds: [3, 4] });
  const checks = await Promise.allSettled(different.ranks.map(({ session }) => session.checkInitialWeights(0, live())));
  for (const check of checks) {
    assert.equal(check.status, 'rejected');
    assert.ok(check.status === 'rejected' && check.reason instanceof WorkerRunError);
    assert.equal(check.status === 'rejected' && (check.reason as WorkerRunError).code, 'WORKER_WEIGHTS_DIFFER');
  }
});

test('evaluation averages the BatchNorm statistics across ranks, then returns the shard sums', async () => {
  const { ranks } = group(2);
  // Train once so the running statistic moves; then make the ranks' statistics differ.
  await Promise.all(ranks.map(({ session }) => session.trainStep(roundStart(0), live())));
  const statistics = ranks.map(({ replica }) => replica.readBuffers());
  ranks[1]!.replica.writeBuffers(statistics[1]!.map((value) => value + 1));
  const shifted = ranks[1]!.replica.readBuffers();
  // float32 all the way: the ring sums two float32 values, then the session divides by 2.
  const mean = statistics[0]!.map((value, i) => Math.fround(Math.fround(value + shifted[i]!) / 2));
  const request = (start: number, end: number): MessageOf<'evalRequest'> => ({
    type: 'evalRequest',
    evalId: 7,
    epoch: 0,
    split: 'val',
    start,
    end,
    batchSize: 4,
    averageRound: 2,
  });
  const results = await Promise.all([
    ranks[0]!.session.evaluate(request(0, 6), live()),
    ranks[1]!.session.evaluate(request(6, 10), live()),
  ]);
  assert.deepEqual(ranks[0]!.replica.readBuffers(), ranks[1]!.replica.readBuffers());
  assert.deepEqual(ranks[0]!.replica.readBuffers(), Float32Array.from(mean));
  const [first, second] = results.map(replyOf);
  assert.equal(first!.type, 'evalResult');
  assert.deepEqual([first!.evalId, first!.start, first!.end, first!.count], [7, 0, 6, 6]);
  assert.equal(second!.count, 4);
  assert.equal(
    first!.perClassCount.reduce((sum, count) => sum + count, 0),
    6,
  );
  assert.equal(first!.confusion.length, 100);
  // Without an average round, a rank evaluates alone.
  const alone = await ranks[0]!.session.evaluate({ ...request(0, 2), averageRound: null }, live());
  assert.equal(replyOf(alone).count, 2);
});

test('a BatchNorm average whose peer is gone returns roundFailed for the average round', async () => {
  const { hub, ranks } = group(2);
  hub.kill(1);
  const result = await ranks[0]!.session.evaluate(
    { type: 'evalRequest', evalId: 1, epoch: 0, split: 'test', start: 0, end: 2, batchSize: 2, averageRound: 9 },
    live(),
  );
  assert.equal(result.outcome, 'failed');
  assert.equal(result.reply?.round, 9);
  assert.equal(result.reply?.peerRank, 1);
});

test('a snapshot returns variables, then BatchNorm statistics, and momentum when asked', async () => {
  const { ranks } = group(1);
  const { session, replica } = ranks[0]!;
  await session.trainStep(roundStart(0), live());
  const request: MessageOf<'checkpointRequest'> = {
    type: 'checkpointRequest',
    requestId: 3,
    epoch: 0,
    step: 1,
    globalStep: 1,
    includeMomentum: true,
  };
  assert.equal(session.lastSnapshotNextStep, null);
  const snapshot = session.snapshot(request);
  assert.equal(snapshot.type, 'stateSnapshot');
  assert.equal(snapshot.requestId, 3);
  assert.equal(snapshot.nextGlobalStep, 1);
  assert.deepEqual(
    snapshot.tensors.map((tensor) => tensor.name),
    [...replica.layout.slots, ...replica.bufferLayout.slots].map((slot) => slot.name),
  );
  assert.deepEqual(
    snapshot.momentum.map((tensor) => tensor.name),
    replica.layout.slots.map((slot) => slot.name),
  );
  assert.equal(session.lastSnapshotNextStep, 1);
  assert.deepEqual(session.snapshot({ ...request, includeMomentum: false }).momentum, []);
});
