// A generation's set-up for two ranks without a process or a socket: a small GoogLeNet built from
// the welcome's seed, synthetic CIFAR-10 sets, and the weights check over the in-memory transport.
// Same weights → `ready` on both ranks; other weights → WORKER_WEIGHTS_DIFFER naming the ranks;
// another data split → ShardMismatchError before any transport is opened; a ring that cannot be
// opened or a peer lost during the check → `roundFailed`; an aborted check round → no reply.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { CollectiveTimeoutError, MemoryHub, type Transport } from '@gnet/collective';
import { indicesDigest, stratifiedSplit, type CifarSet } from '@gnet/data';
import { countParams } from '@gnet/model';
import type { InitialWeights, Welcome } from '@gnet/protocol';
import { VAL_PER_CLASS } from '@gnet/recipe';
import { selectBackend } from '@gnet/training';
import { joinGeneration, prepareGeneration } from './generation_setup.js';
import { ShardMismatchError } from './rank_data.js';
import type { RunContext, RunState } from './run_state.js';
import { WorkerRunError } from './worker_run_error.js';
import { sampleWelcome, TWO_UNDIALED_PEERS } from './testing/sample_welcome.js';

before(async () => {
  await selectBackend({ requested: 'cpu', log: { info: () => undefined } });
});

const MODEL = { width: 0.125, auxHeads: false, batchNorm: true, dropout: 0.4, auxDropout: 0.7 };
const DATASET_SIZE = 16;
const CHECK_ROUND = 40;

/** Ten classes with room for the validation split and a few training images: labels cycle, pixels are grey. */
const TRAIN: CifarSet = (() => {
  const count = 10 * (VAL_PER_CLASS + 4);
  return { count, labels: Uint8Array.from({ length: count }, (_, i) => i % 10), images: new Uint8Array(count * 3072).fill(128) };
})();
const TEST_SET: CifarSet = { count: 20, labels: Uint8Array.from({ length: 20 }, (_, i) => i % 10), images: new Uint8Array(20 * 3072) };

/** The coordinator's digest of the training split for `seed` (what `welcome.shard` carries). */
function splitDigest(seed: number): string {
  return indicesDigest(stratifiedSplit(TRAIN.labels, VAL_PER_CLASS, seed).train.subarray(0, DATASET_SIZE));
}

function welcomeFor(rank: number, seed = 5, shardDigest = splitDigest(seed)): Welcome {
  return sampleWelcome({
    rank,
    worldSize: 2,
    runId: 'run-setup-test',
    generation: 3,
    hyper: { globalBatch: 8, microBatch: 4, weightDecay: 5e-4, seed },
    model: MODEL,
    shard: { datasetSize: DATASET_SIZE, trainIndicesDigest: shardDigest, seed },
    buckets: [{ bucket: 0, offset: 0, length: countParams({ ...MODEL, numClasses: 10 }).total }],
    allReduce: { algorithm: 'ring', chunkBytes: 4096, wireDtype: 'float32' },
    peers: TWO_UNDIALED_PEERS,
    serverProof: new Uint8Array(32),
  });
}

const initial: InitialWeights = {
  type: 'initialWeights',
  generation: 3,
  round: CHECK_ROUND,
  epoch: 0,
  step: 0,
  globalStep: 0,
  tensors: [],
  momentum: [],
};

const context: RunContext = {
  config: { traceWeights: false, traceSamples: false, dumpDir: '', faultNanAtStep: -1 },
  backend: 'cpu',
  sets: { train: TRAIN, test: TEST_SET },
  log: pino({ level: 'silent' }),
  timeline: null,
};

const live = (): AbortSignal => new AbortController().signal;
const runs: RunState[] = [];

/** Prepares rank `rank` and joins it over `openTransport`; the run is disposed after the test file. */
function setUp(welcome: Welcome, openTransport: () => Promise<Transport>, signal = live()) {
  const run = prepareGeneration(null, welcome, initial, context);
  runs.push(run);
  const opened: Transport[] = [];
  const reply = joinGeneration({
    run,
    welcome,
    initial,
    openTransport,
    onTransportOpen: (transport) => opened.push(transport),
    signal,
    collectiveTimeoutMs: 5000,
    log: context.log,
  });
  return { run, reply, opened };
}

test.after(() => {
  for (const run of runs) run.model.dispose();
});

test('two ranks with the same seed pass the weights check and reply ready; the session is ready to train', async () => {
  const hub = new MemoryHub(2);
  const ranks = [0, 1].map((rank) => setUp(welcomeFor(rank), () => Promise.resolve(hub.endpoint(rank))));
  const replies = await Promise.all(ranks.map((r) => r.reply));
  assert.deepEqual(replies, [
    { type: 'ready', generation: 3 },
    { type: 'ready', generation: 3 },
  ]);
  // The executor was handed the transport before the check, to own and close it.
  assert.deepEqual(
    ranks.map((r) => r.opened),
    [[hub.endpoint(0)], [hub.endpoint(1)]],
  );
  assert.equal(ranks[0]!.run.session.nextGlobalStep, 0);
  assert.equal(ranks[0]!.run.data.stepsPerEpoch, DATASET_SIZE / 8);
});

test('ranks with other weights both stop with WORKER_WEIGHTS_DIFFER, each naming itself and the other rank', async () => {
  const hub = new MemoryHub(2);
  // Seeds 5 and 6 build other weights; each shard digest matches its own seed's split, so only the weights differ.
  const ranks = [0, 1].map((rank) => setUp(welcomeFor(rank, 5 + rank), () => Promise.resolve(hub.endpoint(rank))));
  const outcomes = await Promise.allSettled(ranks.map((r) => r.reply));
  outcomes.forEach((outcome, rank) => {
    assert.equal(outcome.status, 'rejected');
    const err = (outcome as PromiseRejectedResult).reason as unknown;
    assert.ok(err instanceof WorkerRunError);
    assert.equal(err.code, 'WORKER_WEIGHTS_DIFFER');
    assert.match(
      err.message,
      new RegExp(
        `^Initial weights differ across ranks in generation 3: rank ${rank} has SHA-256 [0-9a-f]{64}, and rank ${1 - rank} holds other weights; check every worker runs the same code and backend$`,
      ),
    );
  });
});

test('a data split other than the coordinator’s stops the worker with ShardMismatchError before any transport opens', () => {
  const other = welcomeFor(0, 5, splitDigest(9));
  assert.throws(
    () => prepareGeneration(null, other, initial, context),
    (err: unknown) => {
      assert.ok(err instanceof ShardMismatchError);
      assert.equal(err.code, 'WORKER_SHARD_MISMATCH');
      assert.equal(
        err.message,
        `The training split on this machine (digest ${splitDigest(5).slice(0, 12)}…) differs from the coordinator's (${splitDigest(9).slice(0, 12)}…): different CIFAR-10 files or code versions`,
      );
      return true;
    },
  );
});

test('a ring that cannot be opened, or a peer lost in the check, is a roundFailed for the coordinator', async () => {
  const refused = new CollectiveTimeoutError({ peerRank: 1, operation: 'ring dial', round: CHECK_ROUND }, 50);
  const unopened = setUp(welcomeFor(0), () => Promise.reject(refused));
  const reply = await unopened.reply;
  assert.equal(reply?.type, 'roundFailed');
  assert.deepEqual(reply, { type: 'roundFailed', round: CHECK_ROUND, code: 'COLLECTIVE_TIMEOUT', message: refused.message, peerRank: 1 });
  assert.deepEqual(unopened.opened, []);

  const hub = new MemoryHub(2);
  const alone = setUp(welcomeFor(0), () => Promise.resolve(hub.endpoint(0)));
  hub.kill(1);
  const lost = await alone.reply;
  assert.equal(lost?.type, 'roundFailed');
  assert.equal(lost.type === 'roundFailed' && lost.code, 'COLLECTIVE_PEER_LOST');
  assert.equal(lost.type === 'roundFailed' && lost.peerRank, 1);
});

test('a check round the coordinator aborted ends with no reply', async () => {
  const hub = new MemoryHub(2);
  const controller = new AbortController();
  const aborted = setUp(welcomeFor(0), () => Promise.resolve(hub.endpoint(0)), controller.signal);
  controller.abort(`the coordinator aborted round ${CHECK_ROUND}`);
  assert.equal(await aborted.reply, null);
});
