import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EvalResult } from '@gnet/protocol';
import { BadReplyError } from './errors.js';
import { evalRequests, sumEvalResults } from './evaluation.js';

function reply(r: { evalId: number; split: 'val' | 'test'; start: number; end: number; epoch: number }, correct: number[]): EvalResult {
  const count = r.end - r.start;
  const perClassCount = [count, 0, 0];
  // Class 0 only: its correct images on the diagonal, the rest predicted as class 1.
  const confusion = count === 0 ? [] : [correct[0]!, count - correct[0]!, 0, 0, 0, 0, 0, 0, 0];
  return {
    type: 'evalResult',
    evalId: r.evalId,
    epoch: r.epoch,
    split: r.split,
    start: r.start,
    end: r.end,
    lossSum: count,
    correct: correct[0]!,
    count,
    perClassCorrect: correct,
    perClassCount,
    confusion,
  };
}

test('shards tile the split and the sums count every image once', () => {
  const requests = evalRequests({ evalId: 3, epoch: 1, split: 'val', images: 10, worldSize: 3, batchSize: 100 });
  assert.deepEqual(
    requests.map((r) => [r.start, r.end]),
    [
      [0, 4],
      [4, 7],
      [7, 10],
    ],
  );
  const totals = sumEvalResults(
    requests,
    requests.map((r) => reply(r, [1, 0, 0])),
    3,
  );
  assert.deepEqual([totals.count, totals.correct, totals.lossSum, totals.perClassCount], [10, 3, 10, [10, 0, 0]]);
  assert.deepEqual(totals.confusion, [3, 7, 0, 0, 0, 0, 0, 0, 0]);
});

test('more workers than images: empty shards still answer', () => {
  const requests = evalRequests({ evalId: 0, epoch: 0, split: 'test', images: 1, worldSize: 2, batchSize: 8 });
  const totals = sumEvalResults(
    requests,
    [reply(requests[0]!, [1, 0, 0]), { ...reply(requests[1]!, [0, 0, 0]), perClassCount: [0, 0, 0] }],
    3,
  );
  assert.equal(totals.count, 1);
});

test('a reply for another shard is a BadReplyError naming the rank', () => {
  const requests = evalRequests({ evalId: 1, epoch: 0, split: 'val', images: 4, worldSize: 2, batchSize: 8 });
  const wrong = reply({ ...requests[1]!, start: 1, end: 3 }, [0, 0, 0]);
  assert.throws(
    () => sumEvalResults(requests, [reply(requests[0]!, [0, 0, 0]), wrong], 3),
    (e: unknown) =>
      e instanceof BadReplyError &&
      e.code === 'COORD_BAD_REPLY' &&
      /^evalResult from rank 1 must answer evalId 1 \(val \[2, 4\)\), but answers evalId 1 \(val \[1, 3\)\)$/.test(e.message),
  );
});
