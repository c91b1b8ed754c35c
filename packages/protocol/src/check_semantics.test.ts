// Tests of the semantic checks: each invariant broken by a schema-valid message, decoded from
// real bytes, fails with PROTO_SEMANTIC (or PROTO_BAD_TENSOR) and a message naming the fields.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import { MAX_METRICS_COUNT, checkSemantics } from './check_semantics.js';
import { decodeMessage } from './codec.js';
import { sampleInitialWeights, sampleMessages, sampleWelcome } from './fixtures/sample_messages.js';
import { ProtocolError, type ProtocolErrorCode } from './protocol_error.js';

const raw = new Packr({ useRecords: false, variableMapSize: true });

function rejectsBytes(message: object, code: ProtocolErrorCode, text: string): void {
  assert.throws(
    () => decodeMessage(raw.pack(message)),
    (err: unknown) => {
      assert.ok(err instanceof ProtocolError, `expected a ProtocolError, got ${String(err)}`);
      assert.equal(err.code, code);
      assert.equal(err.message, text);
      assert.equal(err.closeCode, 1002);
      return true;
    },
  );
}

describe('welcome invariants', () => {
  const welcome = sampleWelcome();

  it('every rank gets at least one sample of the global batch', () => {
    rejectsBytes(
      { ...welcome, hyper: { ...welcome.hyper, globalBatch: 1 } },
      'PROTO_SEMANTIC',
      'welcome.hyper.globalBatch must be at least welcome.worldSize (2) so every rank has a sample, but got 1',
    );
  });

  it('auxWeight must be 0 without aux heads', () => {
    rejectsBytes(
      { ...welcome, model: { ...welcome.model, auxHeads: false } },
      'PROTO_SEMANTIC',
      'welcome.hyper.auxWeight must be 0 when welcome.model.auxHeads is false, but got 0.3; set auxHeads or auxWeight 0',
    );
  });

  it('the dataset must hold at least one global batch', () => {
    rejectsBytes(
      { ...welcome, shard: { ...welcome.shard, datasetSize: 200 } },
      'PROTO_SEMANTIC',
      'welcome.shard.datasetSize must be at least welcome.hyper.globalBatch (256), but got 200',
    );
  });

  it('buckets are numbered in order', () => {
    rejectsBytes(
      { ...welcome, buckets: [welcome.buckets[1], welcome.buckets[0]] },
      'PROTO_SEMANTIC',
      'welcome.buckets[0].bucket must be 0, but got 1',
    );
  });

  it('buckets are contiguous (no gap, no overlap)', () => {
    rejectsBytes(
      {
        ...welcome,
        buckets: [
          { bucket: 0, offset: 0, length: 1000 },
          { bucket: 1, offset: 999, length: 10 },
        ],
      },
      'PROTO_SEMANTIC',
      'welcome.buckets[1].offset must be 1000 (buckets are contiguous), but got 999',
    );
  });

  it('chunkBytes is a multiple of 4', () => {
    rejectsBytes(
      { ...welcome, allReduce: { ...welcome.allReduce, chunkBytes: 1026 } },
      'PROTO_SEMANTIC',
      'welcome.allReduce.chunkBytes must be a multiple of 4, but got 1026',
    );
  });

  it('a ring lists every rank, in order', () => {
    rejectsBytes(
      { ...welcome, peers: welcome.peers.slice(0, 1) },
      'PROTO_SEMANTIC',
      "welcome.peers must list all 2 ranks when allReduce.algorithm is 'ring', but has 1 entries",
    );
    rejectsBytes(
      { ...welcome, peers: [...welcome.peers].reverse() },
      'PROTO_SEMANTIC',
      'welcome.peers[0].rank must be 0 (rank order), but got 1',
    );
  });

  it('a star has no peers', () => {
    rejectsBytes(
      { ...welcome, allReduce: { ...welcome.allReduce, algorithm: 'star' } },
      'PROTO_SEMANTIC',
      "welcome.peers must be empty when allReduce.algorithm is 'star', but has 2 entries",
    );
  });

  it('accepts a star with no peers', () => {
    const star = { ...welcome, allReduce: { ...welcome.allReduce, algorithm: 'star' as const }, peers: [] };
    assert.deepStrictEqual(decodeMessage(new Uint8Array(raw.pack(star))), star);
  });
});

describe('tensor list invariants', () => {
  it('tensor names are unique', () => {
    const weights = sampleInitialWeights();
    rejectsBytes(
      { ...weights, tensors: [weights.tensors[0], weights.tensors[0]] },
      'PROTO_SEMANTIC',
      "initialWeights.tensors[1].name must be unique, but 'stem/conv/kernel' appears twice",
    );
  });

  it('a tensor count is the product of its shape', () => {
    const snapshot = sampleMessages().stateSnapshot;
    rejectsBytes(
      { ...snapshot, momentum: [{ ...snapshot.momentum[0]!, shape: [4] }] },
      'PROTO_BAD_TENSOR',
      "stateSnapshot.momentum[0] ('fc/bias'): count must be the product of shape [4] (4), but got 3",
    );
  });
});

describe('evaluation invariants', () => {
  const result = sampleMessages().evalResult;

  it('evalRequest.end is not before start', () => {
    rejectsBytes(
      { ...sampleMessages().evalRequest, end: 4999 },
      'PROTO_SEMANTIC',
      'evalRequest.end must be at least evalRequest.start (5000), but got 4999',
    );
  });

  it('count is end - start', () => {
    rejectsBytes({ ...result, count: 19 }, 'PROTO_SEMANTIC', 'evalResult.count must be end - start (20), but got 19');
  });

  it('correct is at most count', () => {
    rejectsBytes({ ...result, correct: 21 }, 'PROTO_SEMANTIC', 'evalResult.correct must be at most count (20), but got 21');
  });

  it('per-class arrays have the same length', () => {
    rejectsBytes(
      { ...result, perClassCorrect: result.perClassCorrect.slice(0, 9) },
      'PROTO_SEMANTIC',
      'evalResult.perClassCorrect must have as many entries as perClassCount (10), but has 9',
    );
  });

  it('per-class correct is at most per-class count', () => {
    rejectsBytes(
      { ...result, perClassCorrect: [3, 0, 0, 1, 1, 2, 1, 1, 1, 1] },
      'PROTO_SEMANTIC',
      'evalResult.perClassCorrect[0] must be at most perClassCount[0] (2), but got 3',
    );
  });

  it('per-class counts sum to count, per-class correct to correct', () => {
    rejectsBytes(
      { ...result, perClassCount: [2, 2, 2, 2, 2, 2, 2, 2, 2, 3] },
      'PROTO_SEMANTIC',
      'evalResult.perClassCount must sum to count (20), but sums to 21',
    );
    rejectsBytes(
      { ...result, perClassCorrect: [0, 2, 0, 1, 1, 2, 1, 1, 1, 1] },
      'PROTO_SEMANTIC',
      'evalResult.perClassCorrect must sum to correct (11), but sums to 10',
    );
  });
});

describe('evalResult confusion matrix', () => {
  const result = sampleMessages().evalResult;
  it('has classes² entries whose rows sum to the per-class counts and whose diagonal is the per-class correct', () => {
    rejectsBytes(
      { ...result, confusion: result.confusion.slice(1) },
      'PROTO_SEMANTIC',
      'evalResult.confusion must have perClassCount.length² (100) entries, but has 99',
    );
    const moved = [...result.confusion];
    moved[1] = moved[1]! + 1;
    rejectsBytes(
      { ...result, confusion: moved },
      'PROTO_SEMANTIC',
      'evalResult.confusion row 0 must sum to perClassCount[0] (2), but sums to 3',
    );
    const offDiagonal = [...result.confusion];
    offDiagonal[0] = offDiagonal[0]! - 1;
    offDiagonal[2] = offDiagonal[2]! + 1;
    rejectsBytes(
      { ...result, confusion: offDiagonal },
      'PROTO_SEMANTIC',
      'evalResult.confusion[0][0] must equal perClassCorrect[0] (1), but is 0',
    );
  });
});

describe('metrics invariants', () => {
  const metrics = sampleMessages().metrics;

  it('correct is at most count', () => {
    rejectsBytes({ ...metrics, correct: 129 }, 'PROTO_SEMANTIC', 'metrics.correct must be at most count (128), but got 129');
  });

  it('refuses the absurd counts of issue 10 (epoch images 1.4e17 from counts of 2^53 - 1)', () => {
    // 2^53 - 1 passes the schema (a safe integer); 16 steps of it made the epoch's 1.4e17 images.
    rejectsBytes(
      { ...metrics, count: Number.MAX_SAFE_INTEGER, correct: 0 },
      'PROTO_SEMANTIC',
      `metrics.count must be an integer in [1, ${MAX_METRICS_COUNT}] (the samples of one rank's batch), but got 9007199254740991`,
    );
    // The figure itself, handed straight to the semantic stage.
    assert.throws(() => checkSemantics({ ...metrics, count: 1.4e17 }), {
      name: 'ProtocolError',
      code: 'PROTO_SEMANTIC',
      message: `metrics.count must be an integer in [1, ${MAX_METRICS_COUNT}] (the samples of one rank's batch), but got 140000000000000000`,
    });
    rejectsBytes(
      { ...metrics, count: 0, correct: 0 },
      'PROTO_SEMANTIC',
      `metrics.count must be an integer in [1, ${MAX_METRICS_COUNT}] (the samples of one rank's batch), but got 0`,
    );
    assert.doesNotThrow(() => checkSemantics({ ...metrics, count: MAX_METRICS_COUNT }));
  });

  it('a non-finite loss only on a skipped step, a finite one never negative', () => {
    rejectsBytes(
      { ...metrics, loss: NaN },
      'PROTO_SEMANTIC',
      'metrics.loss must be finite unless metrics.skipped is true (the update was not applied), but got NaN with skipped false',
    );
    rejectsBytes(
      { ...metrics, loss: Infinity },
      'PROTO_SEMANTIC',
      'metrics.loss must be finite unless metrics.skipped is true (the update was not applied), but got Infinity with skipped false',
    );
    rejectsBytes({ ...metrics, loss: -3 }, 'PROTO_SEMANTIC', 'metrics.loss must be at least 0 (a cross-entropy), but got -3');
    const skipped = decodeMessage(raw.pack({ ...metrics, loss: NaN, skipped: true }));
    assert.ok(skipped.type === 'metrics' && Number.isNaN(skipped.loss) && skipped.skipped, 'a diverged step still reports NaN');
    assert.doesNotThrow(() => checkSemantics({ ...metrics, loss: 0 }));
  });

  it('timings are finite, and the phases fit in the step', () => {
    rejectsBytes(
      { ...metrics, timings: { ...metrics.timings, computeMs: 1e12 } },
      'PROTO_SEMANTIC',
      'metrics.timings phases (dataMs + computeMs + reduceMs + applyMs = 1000000000115.25) must add up to at most stepMs (950), the whole step',
    );
    // Infinity never gets past the schema; the semantic stage refuses it too when called directly.
    rejectsBytes(
      { ...metrics, timings: { ...metrics.timings, stepMs: Infinity } },
      'PROTO_SCHEMA',
      "Message 'metrics' does not match its schema: timings.stepMs: Invalid input: expected number, received Infinity",
    );
    assert.throws(() => checkSemantics({ ...metrics, timings: { ...metrics.timings, stepMs: Infinity } }), {
      code: 'PROTO_SEMANTIC',
      message: 'metrics.timings.stepMs must be a finite number of milliseconds >= 0, but got Infinity',
    });
  });
});
